from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T15:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit log by item (was it removed by a moderator?)"

SQL = """
CREATE INDEX moderation_audit_subject_idx ON moderation_audit (subject_type, subject_id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "moderation", DESCRIPTION, SQL)
