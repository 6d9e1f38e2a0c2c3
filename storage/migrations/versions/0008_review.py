"""the review page: examples admins excluded, and what each adapter trained on and answered

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "excluded_examples",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("excluded_by", sa.String(64), nullable=False),
        sa.Column("excluded_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("adapters") as batch:
        batch.add_column(sa.Column("train_keys", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("heldout_answers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("adapters") as batch:
        batch.drop_column("heldout_answers")
        batch.drop_column("train_keys")
    op.drop_table("excluded_examples")
