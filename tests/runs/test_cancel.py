"""Cancel mid-stream: the buyer pays the usage so far, the creator earns nothing."""

from __future__ import annotations

import asyncio
import time

from hub.providers.models import DEMO, usage_cents
from tests.billing.invariants import assert_ledger_invariants
from tests.runs.helpers import LiveRecorder, make_prompt, run_transactions, start, wait_run, wallet


async def test_cancel_mid_stream_charges_usage_so_far(client, register):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=100)
    with LiveRecorder() as rec:
        r = await start(client, buyer, prompt["id"], max_tokens=2000, visibility="public")
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        assert r.json()["hold_cents"] == 100 + 3
        await wait_run(client, buyer, run_id, until=lambda run: len(run["output"]) > 50)
        asked = time.monotonic()
        c = await client.post(f"/runs/{run_id}/cancel", headers=buyer.headers)
        assert c.status_code == 202, c.text
        assert c.json()["cancel_requested"] is True
        done = await wait_run(client, buyer, run_id, within=5)
        took = time.monotonic() - asked
        await asyncio.sleep(0.1)

    assert done["status"] == "canceled", done
    assert took < 1.0, f"cancel took {took:.2f}s"
    tokens = done["usage"]["output_tokens"]
    assert 0 < tokens < 2000
    cost = usage_cents(DEMO, 8, tokens)
    assert done["usage"]["cost_cents"] == cost == done["charge_cents"]
    assert done["refunded_cents"] == 103 - cost

    events = rec.run_events(run_id)
    assert [e["type"] for e in rec.terminals(run_id)] == ["run.canceled"]
    assert events[-1]["type"] == "run.canceled"
    deltas = [e for e in events if e["type"] == "run.delta"]
    assert "".join(d["text"] for d in deltas) == done["output"]

    txs = await run_transactions(run_id)
    assert txs["run_cancel"] == {"hold": -103, "wallet": 103 - cost, "usage_revenue": cost}
    assert "earnings_pending" not in txs["run_cancel"] and rec.on(f"sales#{creator.id}") == []
    assert (await wallet(client, buyer))["balance_cents"] == 500 - cost
    r = await client.get("/creator/earnings", headers=creator.headers)
    assert r.json()["pending_cents"] == 0
    r = await client.get(f"/prompts/{prompt['id']}")
    assert r.json()["live_runs"] == 0 and r.json()["run_count"] == 0
    await assert_ledger_invariants()
