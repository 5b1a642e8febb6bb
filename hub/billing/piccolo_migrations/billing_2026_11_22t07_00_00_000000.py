from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-22T07:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "sales: admin refunds"

SQL = """
ALTER TABLE sales ADD COLUMN refunded_at timestamptz,
    ADD COLUMN refund_transaction_id bigint UNIQUE REFERENCES ledger_transactions (id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "billing", DESCRIPTION, SQL)
