from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-22T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "double-entry ledger: accounts, transactions, entries; sales"

# The database, not the code, refuses what must never happen:
# - a transaction whose entries do not sum to zero (deferred constraint trigger),
# - a negative wallet/hold/earnings/in-transit balance (CHECK on the account row, which the
#   entry trigger updates in the same statement),
# - a second settlement/refund/cancel of a run, a second hold, a second use of any `ref`
#   (unique indexes),
# - editing or deleting history (append-only triggers).
SQL = """
CREATE TABLE ledger_accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind varchar(32) NOT NULL CHECK (kind IN (
        'wallet', 'hold', 'earnings_pending', 'earnings_available', 'payouts_in_transit',
        'creator_debt', 'platform_fees', 'usage_revenue', 'stripe_clearing', 'promotions')),
    user_id uuid REFERENCES users (id),
    currency char(3) NOT NULL DEFAULT 'USD',
    balance bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_accounts_owner CHECK (
        (user_id IS NULL) = (kind IN ('platform_fees', 'usage_revenue', 'stripe_clearing', 'promotions'))),
    CONSTRAINT ledger_accounts_nonnegative CHECK (
        balance >= 0
        OR kind IN ('platform_fees', 'usage_revenue', 'stripe_clearing', 'promotions', 'creator_debt')),
    -- What a creator owes after an admin refund took back more than their earnings held:
    -- it is never positive, and future earnings pay it off first.
    CONSTRAINT ledger_accounts_debt_nonpositive CHECK (kind <> 'creator_debt' OR balance <= 0),
    CONSTRAINT ledger_accounts_kind_user_key UNIQUE NULLS NOT DISTINCT (kind, user_id)
)
;;
INSERT INTO ledger_accounts (kind) VALUES
    ('platform_fees'), ('usage_revenue'), ('stripe_clearing'), ('promotions')
;;
CREATE TABLE ledger_transactions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind varchar(32) NOT NULL CHECK (kind IN (
        'starter_credits', 'adjustment', 'topup', 'run_hold', 'run_settle', 'run_refund',
        'run_cancel', 'run_admin_refund', 'earnings_mature', 'payout_created', 'payout_paid',
        'payout_failed')),
    ref varchar(200) NOT NULL,
    run_id uuid,
    memo text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_transactions_ref_key UNIQUE (ref),
    CONSTRAINT ledger_transactions_run_required CHECK (
        run_id IS NOT NULL OR kind NOT IN ('run_hold', 'run_settle', 'run_refund', 'run_cancel', 'run_admin_refund'))
)
;;
CREATE UNIQUE INDEX ledger_transactions_one_hold_per_run
    ON ledger_transactions (run_id) WHERE kind = 'run_hold'
;;
CREATE UNIQUE INDEX ledger_transactions_one_final_per_run
    ON ledger_transactions (run_id) WHERE kind IN ('run_settle', 'run_refund', 'run_cancel')
;;
CREATE UNIQUE INDEX ledger_transactions_one_admin_refund_per_run
    ON ledger_transactions (run_id) WHERE kind = 'run_admin_refund'
;;
CREATE INDEX ledger_transactions_run_idx ON ledger_transactions (run_id) WHERE run_id IS NOT NULL
;;
CREATE TABLE ledger_entries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id bigint NOT NULL REFERENCES ledger_transactions (id),
    account_id bigint NOT NULL REFERENCES ledger_accounts (id),
    amount bigint NOT NULL CHECK (amount <> 0),
    balance_after bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_entries_one_per_account UNIQUE (transaction_id, account_id)
)
;;
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id, id)
;;
CREATE FUNCTION ledger_apply_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ledger_accounts SET balance = balance + NEW.amount
        WHERE id = NEW.account_id RETURNING balance INTO NEW.balance_after;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger account % does not exist', NEW.account_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$
;;
CREATE TRIGGER ledger_entries_apply BEFORE INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_apply_entry()
;;
CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tx_id bigint;
    total numeric;
    n int;
BEGIN
    IF TG_TABLE_NAME = 'ledger_entries' THEN
        tx_id := NEW.transaction_id;
    ELSE
        tx_id := NEW.id;
    END IF;
    SELECT coalesce(sum(amount), 0), count(*) INTO total, n
        FROM ledger_entries WHERE transaction_id = tx_id;
    IF total <> 0 OR n < 2 THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced (sum %, % entries)', tx_id, total, n
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_transactions_balanced';
    END IF;
    RETURN NULL;
END
$$
;;
CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced()
;;
CREATE CONSTRAINT TRIGGER ledger_transactions_balanced AFTER INSERT ON ledger_transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced()
;;
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: post a reversing transaction instead', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
;;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only()
;;
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only()
;;
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only()
;;
CREATE FUNCTION ledger_balance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger balances change only through ledger entries'
        USING ERRCODE = 'insufficient_privilege';
END
$$
;;
CREATE TRIGGER ledger_accounts_balance_guard BEFORE UPDATE OF balance ON ledger_accounts
    FOR EACH ROW WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION ledger_balance_guard()
;;
CREATE TABLE sales (
    run_id uuid PRIMARY KEY,
    prompt_id uuid NOT NULL,
    creator_id uuid NOT NULL REFERENCES users (id),
    buyer_id uuid NOT NULL REFERENCES users (id),
    transaction_id bigint NOT NULL UNIQUE REFERENCES ledger_transactions (id),
    gross_cents integer NOT NULL CHECK (gross_cents > 0),
    fee_cents integer NOT NULL CHECK (fee_cents >= 0),
    earning_cents integer NOT NULL CHECK (earning_cents >= 0),
    matures_at timestamptz NOT NULL,
    matured_transaction_id bigint UNIQUE REFERENCES ledger_transactions (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sales_split CHECK (gross_cents = fee_cents + earning_cents)
)
;;
CREATE INDEX sales_creator_idx ON sales (creator_id, created_at DESC, run_id)
;;
CREATE INDEX sales_unmatured_idx ON sales (matures_at) WHERE matured_transaction_id IS NULL
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "billing", DESCRIPTION, SQL)
