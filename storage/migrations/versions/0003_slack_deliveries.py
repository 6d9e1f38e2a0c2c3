"""event ids of Slack deliveries already handled, so retries are not answered twice

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_deliveries",
        sa.Column("event_id", sa.String(length=64), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_slack_deliveries_received_at", "slack_deliveries", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_slack_deliveries_received_at", table_name="slack_deliveries")
    op.drop_table("slack_deliveries")
