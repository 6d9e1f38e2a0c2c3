"""The Alembic migrations build exactly the schema the models declare, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.models import Base


def test_migrated_schema_matches_models(db) -> None:  # type: ignore[no-untyped-def]
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_replicas_migrating_a_new_database_at_once_take_turns(database_url: str) -> None:
    """Four processes upgrade the same empty database at the same moment: one migrates, the rest
    wait on the advisory lock and find it current (without the lock PostgreSQL reports duplicate
    catalog entries)."""
    import subprocess
    import sys
    import time

    import pytest

    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite databases are not shared by replicas")
    start = time.time() + 8  # after every interpreter has imported what it needs
    code = (
        "import time\nfrom storage import Database\nimport storage.migrations\n"
        f"database = Database({database_url!r})\ntime.sleep(max(0, {start} - time.time()))\n"
        "database.upgrade()\n"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, errors
