"""The money invariants of docs money.md, checked against the real database after each scenario."""

from __future__ import annotations

from hub.db import fetch, fetchrow

TERMINAL_KIND = {"completed": "run_settle", "failed": "run_refund", "canceled": "run_cancel"}


async def assert_ledger_invariants() -> None:
    total = await fetchrow("SELECT coalesce(sum(balance), 0) AS s FROM ledger_accounts")
    assert total is not None and total["s"] == 0, f"sum of all balances is {total}"

    negative = await fetch(
        "SELECT id, kind, balance FROM ledger_accounts WHERE balance < 0 AND kind IN "
        "('wallet','hold','earnings_pending','earnings_available','payouts_in_transit')"
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
          (SELECT array_agg(t.kind) FROM ledger_transactions t WHERE t.run_id = r.id
             AND t.kind IN ('run_settle', 'run_refund', 'run_cancel')) AS finals
        FROM runs r
        """
    )
    for r in rows:
        assert r["holds"] == 1, f"run {r['id']} has {r['holds']} holds"
        finals = r["finals"] or []
        if r["status"] in TERMINAL_KIND:
            assert finals == [TERMINAL_KIND[r["status"]]], (
                f"run {r['id']} is {r['status']} with final transactions {finals}"
            )
            assert r["charge_cents"] + r["refunded_cents"] == r["hold_cents"], dict(r)
        else:
            assert finals == [], f"run {r['id']} is {r['status']} but settled: {finals}"
