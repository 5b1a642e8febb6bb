"""Ledger and Stripe money tables: a typed description of what the migrations build.

The migrations are the schema's source of truth (constraints, triggers, indexes); the service
queries with SQL. tests/test_tables.py keeps these classes column for column equal to the
database. The ledger's rules are in docs/money.md.
"""

from piccolo.columns import UUID, BigInt, Boolean, Char, Date, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class LedgerAccount(Table, tablename="ledger_accounts"):
    id = BigInt(primary_key=True)
    kind = Varchar(length=32)
    user_id = UUID(null=True)
    currency = Char(length=3, default="USD")
    balance = BigInt(default=0)
    created_at = Timestamptz()


class LedgerTransaction(Table, tablename="ledger_transactions"):
    """One balanced money movement. `reference` (column `ref`) is its idempotency key: the
    same business event can post at most one transaction. (Named `reference` here because a
    column attribute `ref` would hide Piccolo's `Table.ref()`.)"""

    id = BigInt(primary_key=True)
    kind = Varchar(length=32)
    reference = Varchar(length=200, db_column_name="ref")
    run_id = UUID(null=True)
    memo = Text(default="")
    created_at = Timestamptz()


class LedgerEntry(Table, tablename="ledger_entries"):
    id = BigInt(primary_key=True)
    transaction_id = BigInt()
    account_id = BigInt()
    amount = BigInt()
    balance_after = BigInt()
    created_at = Timestamptz()


class Sale(Table, tablename="sales"):
    """A creator's sale: a run's (or a subscription invoice's) gross split into the
    platform's fee and the creator's earning, pending until `matures_at`."""

    run_id = UUID(primary_key=True)
    prompt_id = UUID()
    creator_id = UUID()
    buyer_id = UUID()
    transaction_id = BigInt()
    gross_cents = Integer()
    fee_cents = Integer()
    earning_cents = Integer()
    matures_at = Timestamptz()
    matured_transaction_id = BigInt(null=True)
    created_at = Timestamptz()
    refunded_at = Timestamptz(null=True)
    refund_transaction_id = BigInt(null=True)
    promo_gross_cents = Integer(default=0)
    promo_earning_cents = Integer(default=0)
    withheld_cents = Integer(default=0)


class TopUp(Table, tablename="topups"):
    """A wallet top-up by Stripe PaymentIntent, credited once when its webhook succeeds."""

    payment_intent_id = Varchar(length=255, primary_key=True)
    user_id = UUID()
    amount_cents = BigInt()
    idempotency_key = Varchar(length=200, null=True)
    status = Varchar(length=16, default="pending")
    transaction_id = BigInt(null=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class StripeEvent(Table, tablename="stripe_events"):
    """Webhook events already applied (each is applied once)."""

    event_id = Varchar(length=255, primary_key=True)
    type = Varchar(length=100)
    received_at = Timestamptz()


class PayoutAccount(Table, tablename="payout_accounts"):
    """A creator's Stripe Connect account."""

    user_id = UUID(primary_key=True)
    stripe_account_id = Varchar(length=255)
    payouts_enabled = Boolean(default=False)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Payout(Table, tablename="payouts"):
    id = UUID(primary_key=True)
    creator_id = UUID()
    stripe_account_id = Varchar(length=255)
    amount_cents = BigInt()
    status = Varchar(length=16, default="in_transit")
    transfer_id = Varchar(length=255, null=True)
    failure_reason = Text(null=True)
    created_transaction_id = BigInt()
    final_transaction_id = BigInt(null=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class StarterGrant(Table, tablename="starter_grants"):
    """Starter credits granted per address (hashed), so re-registering earns none."""

    email_hash = Char(length=64, primary_key=True)
    user_id = UUID()
    granted_at = Timestamptz()


class PromoEarningsMonth(Table, tablename="promo_earnings_months"):
    """How much promotional earning a creator was paid in a month (the monthly cap).
    Its key is (creator_id, month)."""

    creator_id = UUID()
    month = Date()
    payable_cents = BigInt(default=0)
