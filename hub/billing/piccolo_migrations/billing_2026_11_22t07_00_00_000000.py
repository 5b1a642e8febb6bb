from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.db import run_ddl

ID = "2026-11-22T07:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "sales: admin refunds"

SQL = """
ALTER TABLE sales ADD COLUMN refunded_at timestamptz,
    ADD COLUMN refund_transaction_id bigint UNIQUE REFERENCES ledger_transactions (id)
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="billing", description=DESCRIPTION)

    async def run() -> None:
        await run_ddl(SQL)

    manager.add_raw(run)
    return manager
