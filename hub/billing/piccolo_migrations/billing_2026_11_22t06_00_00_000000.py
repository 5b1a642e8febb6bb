from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-22T06:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "ledger entries are numbered after their account is locked"

# An entry's id used to be drawn before its trigger waited for the account's row lock, so
# under contention (platform accounts, a buyer's wallet) a later id could be applied first
# and `balance_after` did not follow id order. Drawing the id after the lock makes id order,
# per account, the order in which balances changed.
SQL = """
CREATE OR REPLACE FUNCTION ledger_apply_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ledger_accounts SET balance = balance + NEW.amount
        WHERE id = NEW.account_id RETURNING balance INTO NEW.balance_after;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger account % does not exist', NEW.account_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    NEW.id := nextval(pg_get_serial_sequence('ledger_entries', 'id'));
    RETURN NEW;
END
$$
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "billing", DESCRIPTION, SQL)
