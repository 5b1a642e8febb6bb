"""The money invariants of docs/money.md, checked against the real database after each scenario."""

from __future__ import annotations

from hub.billing.ledger import NON_NEGATIVE_KINDS
from hub.platform.db import fetch, fetchrow
from hub.platform.settings import get_settings

TERMINAL_KIND = {"completed": "run_settle", "failed": "run_refund", "canceled": "run_cancel"}


async def assert_ledger_invariants() -> None:
    total = await fetchrow("SELECT coalesce(sum(balance), 0) AS s FROM ledger_accounts")
    assert total is not None and total["s"] == 0, f"sum of all balances is {total}"

    assert {"wallet", "hold", "promo_wallet", "promo_hold", "earnings_pending"} <= set(
        NON_NEGATIVE_KINDS
    ), NON_NEGATIVE_KINDS
    negative = await fetch(
        "SELECT id, kind, balance FROM ledger_accounts WHERE balance < 0 "
        "AND kind = ANY($1::text[])",
        list(NON_NEGATIVE_KINDS),
    )
    assert not negative, f"negative balances: {negative}"

    unbalanced = await fetch(
        "SELECT t.id, t.ref, sum(e.amount) AS s, count(e.id) AS n FROM ledger_transactions t "
        "LEFT JOIN ledger_entries e ON e.transaction_id = t.id GROUP BY t.id "
        "HAVING coalesce(sum(e.amount), 0) <> 0 OR count(e.id) < 2"
    )
    assert not unbalanced, f"unbalanced transactions: {unbalanced}"

    drift = await fetch(
        "SELECT a.id, a.balance, coalesce(sum(e.amount), 0) AS entries FROM ledger_accounts a "
        "LEFT JOIN ledger_entries e ON e.account_id = a.id GROUP BY a.id "
        "HAVING a.balance <> coalesce(sum(e.amount), 0)"
    )
    assert not drift, f"balances that differ from their entries: {drift}"

    chain = await fetch(
        "SELECT id FROM (SELECT id, balance_after, sum(amount) OVER (PARTITION BY account_id "
        "ORDER BY id) AS running FROM ledger_entries) x WHERE balance_after <> running"
    )
    assert not chain, f"entries whose balance_after is not the running sum: {chain[:5]}"

    await assert_promotional_money_rules()

    if (
        await fetchrow("SELECT to_regclass('runs') IS NOT NULL AS ok")
        and (await fetchrow("SELECT to_regclass('runs') IS NOT NULL AS ok"))["ok"]
    ):
        await assert_runs_agree_with_ledger()


async def assert_runs_agree_with_ledger() -> None:
    rows = await fetch(
        """
        SELECT r.id, r.status, r.hold_cents, r.charge_cents, r.refunded_cents,
          (SELECT count(*) FROM ledger_transactions t WHERE t.run_id = r.id AND t.kind = 'run_hold') AS holds,
          (SELECT coalesce(sum(e.amount), 0) FROM ledger_transactions t
             JOIN ledger_entries e ON e.transaction_id = t.id
             JOIN ledger_accounts a ON a.id = e.account_id
             WHERE t.run_id = r.id AND t.kind = 'run_hold' AND a.kind IN ('hold', 'promo_hold'))
             AS held,
          (SELECT array_agg(t.kind) FROM ledger_transactions t WHERE t.run_id = r.id
             AND t.kind IN ('run_settle', 'run_refund', 'run_cancel')) AS finals
        FROM runs r
        """
    )
    for r in rows:
        assert r["holds"] == 1, f"run {r['id']} has {r['holds']} holds"
        assert r["held"] == r["hold_cents"], f"run {r['id']}: the ledger holds {r['held']}"
        finals = r["finals"] or []
        if r["status"] in TERMINAL_KIND:
            assert finals == [TERMINAL_KIND[r["status"]]], (
                f"run {r['id']} is {r['status']} with final transactions {finals}"
            )
            assert r["charge_cents"] + r["refunded_cents"] == r["hold_cents"], dict(r)
        else:
            assert finals == [], f"run {r['id']} is {r['status']} but settled: {finals}"


async def assert_promotional_money_rules() -> None:
    """Promotional credits never become more payable earnings than the monthly cap allows,
    and withheld promotional earnings never move."""
    cap = get_settings().promo_earnings_cap_cents
    over = await fetch(
        "SELECT creator_id, month, payable_cents FROM promo_earnings_months "
        "WHERE payable_cents > $1",
        cap,
    )
    assert not over, f"promotional earnings made payable beyond the cap: {over}"

    # The monthly counter equals what the month's sales made payable (refunds do not give
    # the cap back).
    counted = await fetch(
        """
        SELECT m.creator_id, m.month, m.payable_cents, coalesce(s.payable, 0) AS sales
        FROM promo_earnings_months m LEFT JOIN (
            SELECT creator_id, date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS month,
                   sum(promo_earning_cents) AS payable
            FROM sales GROUP BY 1, 2) s ON s.creator_id = m.creator_id AND s.month = m.month
        WHERE m.payable_cents <> coalesce(s.payable, 0)
        """
    )
    assert not counted, f"monthly promotional counters differ from the sales: {counted}"

    # Each sale's promotional split is what its settlement posted.
    mismatched = await fetch(
        """
        SELECT s.run_id, s.withheld_cents, s.promo_earning_cents, s.promo_gross_cents,
          coalesce(sum(e.amount) FILTER (WHERE a.kind = 'promo_earnings_withheld'), 0) AS withheld,
          coalesce(sum(e.amount) FILTER (WHERE a.kind = 'promo_hold'), 0) AS promo_hold
        FROM sales s JOIN ledger_entries e ON e.transaction_id = s.transaction_id
        JOIN ledger_accounts a ON a.id = e.account_id
        GROUP BY s.run_id
        HAVING coalesce(sum(e.amount) FILTER (WHERE a.kind = 'promo_earnings_withheld'), 0)
               <> s.withheld_cents
            OR (s.promo_gross_cents > 0) <> (
               coalesce(sum(e.amount) FILTER (WHERE a.kind = 'promo_hold'), 0) < 0)
        """
    )
    assert not mismatched, f"sales whose promotional split differs from the ledger: {mismatched}"

    # Withheld promotional earnings only ever come in (settlements) or are reversed (admin
    # refunds): nothing pays them out.
    moved = await fetch(
        "SELECT t.id, t.kind FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id "
        "JOIN ledger_transactions t ON t.id = e.transaction_id "
        "WHERE a.kind = 'promo_earnings_withheld' "
        "AND t.kind NOT IN ('run_settle', 'run_cancel', 'run_admin_refund')"
    )
    assert not moved, f"withheld promotional earnings moved: {moved}"
