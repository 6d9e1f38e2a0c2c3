"""Alembic environment: runs migrations on the engine handed over by storage.database."""

from alembic import context

from storage.database import serialize
from storage.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    # Replicas starting together on a new database: one migrates, the others wait, then find the
    # schema current (PostgreSQL's DDL is transactional; the lock is released at commit).
    serialize(connection, "migrations")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
