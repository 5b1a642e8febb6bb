from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T20:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "The outbox: side effects of committed transactions, delivered with retries"

SQL = """
CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    kind varchar(16) NOT NULL CHECK (kind IN ('publish', 'job')),
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error text
)
;;
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "outbox", DESCRIPTION, SQL)
