from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.db import run_ddl

ID = "2026-11-29T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "mentions in review replies"

# The users a creator's reply names (`[{id, handle, url}]`), kept so its links survive renames.
SQL = """
ALTER TABLE reviews ADD COLUMN reply_mentions jsonb NOT NULL DEFAULT '[]'::jsonb
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="community", description=DESCRIPTION)

    async def run() -> None:
        await run_ddl(SQL)

    manager.add_raw(run)
    return manager
