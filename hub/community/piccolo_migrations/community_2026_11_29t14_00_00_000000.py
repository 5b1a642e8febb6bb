from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "email digests: one per user and period"

# The primary key is the digest's idempotency: the job inserts the (user, period) row in the
# same transaction as the mail it queues, so a second run (or two at once) finds it and sends
# nothing. `mail_id` points at the outbox row that carries it.
SQL = """
CREATE TABLE notification_digests (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    period_start timestamptz NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now(),
    notification_count integer NOT NULL CHECK (notification_count > 0),
    mail_id uuid,
    PRIMARY KEY (user_id, period_start)
)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "community", DESCRIPTION, SQL)
