from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.db import run_ddl

ID = "2026-11-29T21:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Outbox job rows are kept until their job has run (enqueued_at)"

SQL = """
ALTER TABLE outbox ADD COLUMN enqueued_at timestamptz
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="outbox", description=DESCRIPTION)

    async def run() -> None:
        await run_ddl(SQL)

    manager.add_raw(run)
    return manager
