"""A creator's dashboard equals their ledger; sale.created equals the completed paid runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hub.billing import creators
from hub.billing.creators import split_price
from hub.platform.db import fetchrow
from hub.runs.jobs import jobs_routed_to
from hub.runs.schemas import RunRequest
from hub.runs.start import start_run
from tests.billing.invariants import assert_ledger_invariants
from tests.runs.helpers import LiveRecorder, make_prompt, start, wait_run


async def _ledger_sum(user_id: str, kind: str, tx_kinds: tuple[str, ...] | None = None) -> int:
    row = await fetchrow(
        "SELECT coalesce(sum(e.amount), 0) AS s FROM ledger_entries e "
        "JOIN ledger_accounts a ON a.id = e.account_id "
        "JOIN ledger_transactions t ON t.id = e.transaction_id "
        "WHERE a.user_id = $1 AND a.kind = $2 AND ($3::text[] IS NULL OR t.kind = ANY($3))",
        uuid.UUID(user_id),
        kind,
        list(tx_kinds) if tx_kinds else None,
    )
    return int(row["s"])


async def test_dashboard_equals_ledger_and_sales_events_equal_paid_runs(client, register):
    creator = await register()
    buyers = [await register() for _ in range(3)]
    a = await make_prompt(client, creator, price_cents=40)
    b = await make_prompt(client, creator, price_cents=15)
    free = await make_prompt(client, creator, price_cents=0)
    with LiveRecorder() as rec:
        started = [
            await start(client, buyers[0], a["id"], max_tokens=4),
            await start(client, buyers[1], a["id"], max_tokens=4),
            await start(client, buyers[2], b["id"], max_tokens=4),
            await start(client, buyers[0], free["id"], max_tokens=4),
        ]
        done = [
            await wait_run(client, buyers[0 if i in (0, 3) else i], r.json()["id"])
            for i, r in enumerate(started)
        ]
        with jobs_routed_to("arq:test-no-worker"):  # no worker: it stays queued
            canceled = await start_run(
                buyers[1].id,
                a["id"],
                RunRequest(inputs={"topic": "x"}, max_tokens=4),
                str(uuid.uuid4()),
            )
        r = await client.post(f"/runs/{canceled.id}/cancel", headers=buyers[1].headers)
        assert r.status_code == 202
    assert all(d["status"] == "completed" for d in done)
    paid = {d["id"] for d in done if d["price_cents"] > 0}
    assert {e["run_id"] for e in rec.on(f"sales#{creator.id}", "sale.created")} == paid
    assert len(rec.on(f"sales#{creator.id}", "sale.created")) == 3

    earning = 2 * split_price(40)[1] + split_price(15)[1]
    r = await client.get("/creator/earnings", headers=creator.headers)
    e = r.json()
    assert e == {
        **e,
        "pending_cents": earning,
        "available_cents": 0,
        "in_transit_cents": 0,
        "paid_cents": 0,
        "lifetime_cents": earning,
    }
    # The buyers paid with their starter credits: promotional earnings, within the cap.
    assert e["promo_pending_cents"] == e["pending_cents"] and e["withheld_cents"] == 0
    assert e["pending_cents"] == await _ledger_sum(
        creator.id, "earnings_pending"
    ) + await _ledger_sum(creator.id, "promo_earnings_pending")

    items, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/creator/sales", params=params, headers=creator.headers)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert {i["run_id"] for i in items} == paid
    assert sum(i["earning_cents"] for i in items) == earning
    assert sum(i["gross_cents"] for i in items) == 95
    assert all(i["gross_cents"] == i["fee_cents"] + i["earning_cents"] for i in items)
    assert all(not i["matured"] for i in items)

    # After the hold period the cron moves them to available, once.
    later = datetime.now(UTC) + timedelta(days=8)
    with LiveRecorder() as rec:
        assert await creators.mature_earnings(as_of=later) >= earning
        assert await creators.mature_earnings(as_of=later) == 0
    e = (await client.get("/creator/earnings", headers=creator.headers)).json()
    assert (e["pending_cents"], e["available_cents"], e["lifetime_cents"]) == (0, earning, earning)
    assert e["available_cents"] == await _ledger_sum(creator.id, "earnings_available")
    assert rec.on(f"sales#{creator.id}", "earnings.updated")[-1]["available_cents"] == earning
    page = (await client.get("/creator/sales", headers=creator.headers)).json()
    assert all(i["matured"] for i in page["items"])
    await assert_ledger_invariants()
