from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "notifications as sentences: extra facts per kind (amount, version, run)"

# `data` holds what a sentence needs beyond actor/prompt/review: the amount of a sale, the
# version of a prompt, the run that earned it. Kinds stay free text (new kinds need no DDL).
SQL = """
ALTER TABLE notifications ADD COLUMN data jsonb NOT NULL DEFAULT '{}'::jsonb
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "community", DESCRIPTION, SQL)
