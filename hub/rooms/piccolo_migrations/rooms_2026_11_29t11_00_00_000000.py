from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "room messages can be edited by their author"

SQL = """
ALTER TABLE room_messages ADD COLUMN edited_at timestamptz
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "rooms", DESCRIPTION, SQL)
