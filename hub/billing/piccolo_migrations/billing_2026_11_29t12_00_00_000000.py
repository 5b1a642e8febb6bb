from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = (
    "promotional money kept apart: promo wallet and hold, promo earnings (capped per month)"
)

# Promotional credits (starter credits, support grants) live in their own accounts, so every
# run's hold records which money funded it, and so does every sale:
# - buyers: `promo_wallet` and `promo_hold` beside `wallet` and `hold` (promo is spent first);
# - creators: the promo-funded share of a sale goes to `promo_earnings_pending` up to
#   HUB_PROMO_EARNINGS_CAP_CENTS per creator per calendar month (UTC, month of the sale),
#   which matures into `earnings_available` like any earning, and the rest to
#   `promo_earnings_withheld`, which nothing ever moves out of (it is never paid out).
# The new user-owned kinds are non-negative (the existing CHECK covers every kind not listed
# as exempt). `promo_earnings_months` counts what each creator's month has made payable; its
# row is locked by each promo-funded settlement, so concurrent sales cannot exceed the cap.
# Existing wallets: the part of a balance that promotional grants could have funded (at most
# what was granted) moves to the promo wallet, the rest stays paid money.
SQL = """
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_kind_check
;;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_kind_check CHECK (kind IN (
    'wallet', 'hold', 'promo_wallet', 'promo_hold',
    'earnings_pending', 'earnings_available', 'payouts_in_transit', 'creator_debt',
    'promo_earnings_pending', 'promo_earnings_withheld',
    'platform_fees', 'usage_revenue', 'stripe_clearing', 'promotions'))
;;
ALTER TABLE sales
    ADD COLUMN promo_gross_cents integer NOT NULL DEFAULT 0 CHECK (promo_gross_cents >= 0),
    ADD COLUMN promo_earning_cents integer NOT NULL DEFAULT 0 CHECK (promo_earning_cents >= 0),
    ADD COLUMN withheld_cents integer NOT NULL DEFAULT 0 CHECK (withheld_cents >= 0),
    ADD CONSTRAINT sales_promo_split CHECK (
        promo_gross_cents <= gross_cents
        AND promo_earning_cents + withheld_cents <= earning_cents
        AND (promo_gross_cents > 0 OR promo_earning_cents + withheld_cents = 0))
;;
CREATE TABLE promo_earnings_months (
    creator_id uuid NOT NULL REFERENCES users (id),
    month date NOT NULL CHECK (extract(day FROM month) = 1),
    payable_cents bigint NOT NULL DEFAULT 0 CHECK (payable_cents >= 0),
    PRIMARY KEY (creator_id, month)
)
;;
DO $$
DECLARE
    r record;
    promo_id bigint;
    tx_id bigint;
    amount bigint;
BEGIN
    FOR r IN
        SELECT a.id AS wallet_id, a.user_id, a.balance,
            (SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e
                JOIN ledger_transactions t ON t.id = e.transaction_id
                WHERE e.account_id = a.id AND e.amount > 0
                AND t.kind IN ('starter_credits', 'adjustment')) AS granted
        FROM ledger_accounts a WHERE a.kind = 'wallet' AND a.balance > 0
        AND NOT EXISTS (SELECT 1 FROM ledger_transactions
                        WHERE ref = 'promo-reclassify:' || a.user_id::text)
    LOOP
        amount := least(r.balance, r.granted);
        CONTINUE WHEN amount <= 0;
        INSERT INTO ledger_accounts (kind, user_id) VALUES ('promo_wallet', r.user_id)
            ON CONFLICT ON CONSTRAINT ledger_accounts_kind_user_key DO NOTHING;
        SELECT id INTO promo_id FROM ledger_accounts
            WHERE kind = 'promo_wallet' AND user_id = r.user_id;
        INSERT INTO ledger_transactions (kind, ref, memo)
            VALUES ('adjustment', 'promo-reclassify:' || r.user_id::text,
                    'Promotional credits kept apart from paid money')
            RETURNING id INTO tx_id;
        INSERT INTO ledger_entries (transaction_id, account_id, amount)
            VALUES (tx_id, r.wallet_id, -amount), (tx_id, promo_id, amount);
    END LOOP;
END
$$
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "billing", DESCRIPTION, SQL)
