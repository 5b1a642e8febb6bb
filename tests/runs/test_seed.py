"""The demo runs seeder is idempotent and leaves the ledger consistent."""

from __future__ import annotations

from hub.dev.demo import accounts as seed_accounts
from hub.dev.demo import marketplace as seed_marketplace
from hub.dev.demo import runs as seed_runs
from hub.platform.db import fetch
from tests.billing.invariants import assert_ledger_invariants


async def test_seed_runs_twice_makes_two_completed_runs(client):
    await seed_accounts.seed()
    await seed_marketplace.seed()
    for _ in range(2):
        await seed_runs.seed()
    rows = await fetch(
        "SELECT r.status, r.charge_cents, r.idempotency_key FROM runs r JOIN users u "
        "ON u.id = r.buyer_id WHERE u.handle = 'bob' AND r.idempotency_key LIKE 'seed:%'"
    )
    assert len(rows) == 2 and {r["status"] for r in rows} == {"completed"}
    sales = await fetch(
        "SELECT count(*) AS n FROM sales s JOIN runs r ON r.id = s.run_id "
        "WHERE r.idempotency_key LIKE 'seed:%'"
    )
    assert sales[0]["n"] == 2
    await assert_ledger_invariants()
