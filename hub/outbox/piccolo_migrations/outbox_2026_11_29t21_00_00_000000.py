from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T21:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Outbox job rows are kept until their job has run (enqueued_at)"

SQL = """
ALTER TABLE outbox ADD COLUMN enqueued_at timestamptz
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "outbox", DESCRIPTION, SQL)
