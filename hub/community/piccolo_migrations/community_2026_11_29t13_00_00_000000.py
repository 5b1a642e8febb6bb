from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "mentions in review replies"

# The users a creator's reply names (`[{id, handle, url}]`), kept so its links survive renames.
SQL = """
ALTER TABLE reviews ADD COLUMN reply_mentions jsonb NOT NULL DEFAULT '[]'::jsonb
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "community", DESCRIPTION, SQL)
