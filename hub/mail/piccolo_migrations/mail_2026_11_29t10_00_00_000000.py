from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "mail outbox: messages written in their cause's transaction, delivered after commit"

# A row is claimed (claimed_until) before it is sent, so the sender after commit and the
# worker's sweep never both send it; `body` is blanked once delivered (it may hold a
# single-use link).
SQL = """
CREATE TABLE mail_outbox (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind varchar(40) NOT NULL,
    user_id uuid,
    to_address varchar(254) NOT NULL,
    subject varchar(200) NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_until timestamptz,
    delivered_at timestamptz,
    last_error text
)
;;
CREATE INDEX mail_outbox_pending_idx ON mail_outbox (next_attempt_at) WHERE delivered_at IS NULL
;;
CREATE INDEX mail_outbox_user_idx ON mail_outbox (user_id, created_at) WHERE user_id IS NOT NULL
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "mail", DESCRIPTION, SQL)
