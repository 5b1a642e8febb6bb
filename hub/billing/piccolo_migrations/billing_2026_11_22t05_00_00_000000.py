from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.db import run_ddl

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
    manager = MigrationManager(migration_id=ID, app_name="billing", description=DESCRIPTION)

    async def run() -> None:
        await run_ddl(SQL)

    manager.add_raw(run)
    return manager
