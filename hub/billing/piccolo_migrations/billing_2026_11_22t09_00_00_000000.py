from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-22T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Stripe Connect payout accounts and payouts"

SQL = """
CREATE TABLE payout_accounts (
    user_id uuid PRIMARY KEY REFERENCES users (id),
    stripe_account_id varchar(255) NOT NULL UNIQUE,
    payouts_enabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
)
;;
CREATE TABLE payouts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    creator_id uuid NOT NULL REFERENCES users (id),
    stripe_account_id varchar(255) NOT NULL,
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    status varchar(16) NOT NULL DEFAULT 'in_transit' CHECK (status IN ('in_transit', 'paid', 'failed')),
    transfer_id varchar(255) UNIQUE,
    failure_reason text,
    created_transaction_id bigint NOT NULL REFERENCES ledger_transactions (id),
    final_transaction_id bigint REFERENCES ledger_transactions (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payouts_final CHECK ((status = 'in_transit') = (final_transaction_id IS NULL))
)
;;
CREATE INDEX payouts_creator_idx ON payouts (creator_id, created_at DESC, id DESC)
;;
CREATE UNIQUE INDEX payouts_one_in_transit_per_creator ON payouts (creator_id) WHERE status = 'in_transit'
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "billing", DESCRIPTION, SQL)
