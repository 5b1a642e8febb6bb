import re

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import fetchrow, run_ddl

ID = "2026-11-29T13:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "subscriptions: creator plans, Stripe customers, subscriptions, paid invoices"

# - One plan per creator; one live (not canceled) subscription per subscriber and creator.
# - A paid invoice is recorded once (its Stripe id is the key) with the ledger transaction
#   that made it a sale, and matures like a run's sale (matured_transaction_id, once).
# - A run covered by a subscription names it (runs.subscription_id): that is how the runs
#   of a period are counted against `runs_included`.
SQL = """
CREATE TABLE subscription_plans (
    creator_id uuid PRIMARY KEY REFERENCES users (id),
    price_cents integer NOT NULL CHECK (price_cents BETWEEN 100 AND 100000),
    runs_included integer NOT NULL CHECK (runs_included BETWEEN 1 AND 10000),
    stripe_product_id varchar(255) NOT NULL,
    stripe_price_id varchar(255) NOT NULL,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
)
;;
CREATE TABLE billing_customers (
    user_id uuid PRIMARY KEY REFERENCES users (id),
    stripe_customer_id varchar(255) NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
)
;;
CREATE TABLE subscriptions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subscriber_id uuid NOT NULL REFERENCES users (id),
    creator_id uuid NOT NULL REFERENCES users (id),
    stripe_subscription_id varchar(255) NOT NULL UNIQUE,
    price_cents integer NOT NULL CHECK (price_cents > 0),
    runs_included integer NOT NULL CHECK (runs_included > 0),
    status varchar(16) NOT NULL DEFAULT 'incomplete'
        CHECK (status IN ('incomplete', 'active', 'past_due', 'canceled')),
    current_period_start timestamptz NOT NULL,
    current_period_end timestamptz NOT NULL,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    grace_until timestamptz,
    canceled_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subscriptions_not_self CHECK (subscriber_id <> creator_id)
)
;;
CREATE UNIQUE INDEX subscriptions_one_live ON subscriptions (subscriber_id, creator_id)
    WHERE status <> 'canceled'
;;
CREATE INDEX subscriptions_subscriber_idx ON subscriptions (subscriber_id, created_at DESC)
;;
CREATE INDEX subscriptions_creator_idx ON subscriptions (creator_id, status)
;;
CREATE TABLE subscription_invoices (
    stripe_invoice_id varchar(255) PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES subscriptions (id),
    creator_id uuid NOT NULL REFERENCES users (id),
    subscriber_id uuid NOT NULL REFERENCES users (id),
    amount_cents integer NOT NULL CHECK (amount_cents > 0),
    fee_cents integer NOT NULL CHECK (fee_cents >= 0),
    earning_cents integer NOT NULL CHECK (earning_cents >= 0),
    -- the part of the earning that paid off a debt left by a support refund (not pending)
    debt_paid_cents integer NOT NULL DEFAULT 0 CHECK (debt_paid_cents BETWEEN 0 AND earning_cents),
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL,
    transaction_id bigint NOT NULL UNIQUE REFERENCES ledger_transactions (id),
    matures_at timestamptz NOT NULL,
    matured_transaction_id bigint UNIQUE REFERENCES ledger_transactions (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subscription_invoices_split CHECK (amount_cents = fee_cents + earning_cents)
)
;;
CREATE INDEX subscription_invoices_creator_idx ON subscription_invoices (creator_id, created_at DESC)
;;
CREATE INDEX subscription_invoices_subscriber_idx ON subscription_invoices (subscriber_id, created_at DESC)
;;
CREATE INDEX subscription_invoices_unmatured_idx ON subscription_invoices (matures_at)
    WHERE matured_transaction_id IS NULL
;;
ALTER TABLE runs ADD COLUMN subscription_id uuid REFERENCES subscriptions (id)
;;
CREATE INDEX runs_subscription_idx ON runs (subscription_id, created_at)
    WHERE subscription_id IS NOT NULL
"""


async def _allow_transaction_kind(kind: str) -> None:
    """Add a kind to the ledger's list of transaction kinds, keeping whatever is there (other
    migrations may have added theirs)."""
    row = await fetchrow(
        "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint "
        "WHERE conname = 'ledger_transactions_kind_check'"
    )
    assert row is not None, "ledger_transactions_kind_check is missing"
    kinds = re.findall(r"'([a-z_]+)'", row["def"])
    if kind in kinds:
        return
    listed = ", ".join(f"'{k}'" for k in [*kinds, kind])
    await run_ddl(
        "ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_check\n;;\n"
        "ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_check "
        f"CHECK (kind IN ({listed}))"
    )


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="subscriptions", description=DESCRIPTION)

    async def run() -> None:
        await run_ddl(SQL)
        await _allow_transaction_kind("subscription_invoice")

    manager.add_raw(run)
    return manager
