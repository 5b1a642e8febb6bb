from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T10:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "starter credits: at most once per verified (normalised) email address"

# The address is kept as a SHA-256 of its normalised form: enough to refuse a second grant
# after the account was erased and the address registered again, without keeping the address.
# Accounts that already received starter credits (at registration, before verification was
# required) are recorded so that verifying their address later grants nothing more.
SQL = """
CREATE TABLE starter_grants (
    email_hash char(64) PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id),
    granted_at timestamptz NOT NULL DEFAULT now()
)
;;
INSERT INTO starter_grants (email_hash, user_id, granted_at)
SELECT encode(sha256(convert_to(u.email, 'UTF8')), 'hex'), u.id, t.created_at
FROM users u JOIN ledger_transactions t ON t.ref = 'starter:' || u.id::text
WHERE t.kind = 'starter_credits'
ON CONFLICT DO NOTHING
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "billing", DESCRIPTION, SQL)
