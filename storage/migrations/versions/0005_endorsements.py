"""corrections remember their Slack message; approvals of a correction (endorsements)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("message_ts", sa.String(32), nullable=True))
        batch.add_column(sa.Column("endorses_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_feedback_endorses", "feedback", ["endorses_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_feedback_message_ts", ["message_ts"])


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_index("ix_feedback_message_ts")
        batch.drop_constraint("fk_feedback_endorses", type_="foreignkey")
        batch.drop_column("endorses_id")
        batch.drop_column("message_ts")
