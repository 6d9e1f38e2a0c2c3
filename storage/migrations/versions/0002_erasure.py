"""who contributed to each exchange and adapter, for erasure

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exchanges") as batch:
        batch.add_column(sa.Column("participants", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("adapters") as batch:
        batch.add_column(sa.Column("contributors", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("erased", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("adapters") as batch:
        batch.drop_column("erased")
        batch.drop_column("contributors")
    with op.batch_alter_table("exchanges") as batch:
        batch.drop_column("participants")
