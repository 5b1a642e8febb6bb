from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-22T05:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "sales: one maturing transaction covers many sales of a creator"

SQL = """
ALTER TABLE sales DROP CONSTRAINT sales_matured_transaction_id_key
;;
CREATE INDEX sales_matured_transaction_idx ON sales (matured_transaction_id)
    WHERE matured_transaction_id IS NOT NULL
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "billing", DESCRIPTION, SQL)
