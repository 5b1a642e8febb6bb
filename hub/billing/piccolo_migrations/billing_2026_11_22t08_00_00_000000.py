from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-22T08:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Stripe top-ups and the webhook events already applied"

SQL = """
CREATE TABLE topups (
    payment_intent_id varchar(255) PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id),
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    idempotency_key varchar(200),
    status varchar(16) NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'succeeded', 'failed', 'mismatch')),
    transaction_id bigint REFERENCES ledger_transactions (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT topups_credited_once CHECK ((status = 'succeeded') = (transaction_id IS NOT NULL))
)
;;
CREATE INDEX topups_user_idx ON topups (user_id, created_at DESC)
;;
CREATE UNIQUE INDEX topups_user_idempotency_key ON topups (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL
;;
CREATE TABLE stripe_events (
    event_id varchar(255) PRIMARY KEY,
    type varchar(100) NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "billing", DESCRIPTION, SQL)
