"""Persistence: SQLAlchemy models, Alembic migrations and the queries the rest of tunebot uses.

SQLite by default, PostgreSQL in production. Only scrubbed text ever reaches these tables.
"""

from storage.database import Database, upgrade_database
from storage.models import Adapter, AuditEvent, Exchange, Feedback, TrainingRun

__all__ = [
    "Adapter",
    "AuditEvent",
    "Database",
    "Exchange",
    "Feedback",
    "TrainingRun",
    "upgrade_database",
]
