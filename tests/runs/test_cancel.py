"""Cancelling a run: free before the first output token; once output has begun, the buyer
pays the full price plus the usage so far and the creator's sale stands."""

from __future__ import annotations

from hub.providers.models import DEMO, usage_cents
from tests.billing.invariants import assert_ledger_invariants
from tests.runs.helpers import LiveRecorder, make_prompt, run_transactions, start, wait_run, wallet


async def test_cancel_after_output_began_charges_the_price_and_records_the_sale(client, register):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=100)
    with LiveRecorder() as rec:
        r = await start(client, buyer, prompt["id"], max_tokens=2000, visibility="public")
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        assert r.json()["hold_cents"] == 100 + 3
        await wait_run(client, buyer, run_id, until=lambda run: len(run["output"]) > 50)
        c = await client.post(f"/runs/{run_id}/cancel", headers=buyer.headers)
        assert c.status_code == 202, c.text
        assert c.json()["cancel_requested"] is True
        done = await wait_run(client, buyer, run_id)
        await rec.wait_for(f"sales#{creator.id}", "sale.created")

    assert done["status"] == "canceled", done
    tokens = done["usage"]["output_tokens"]
    assert 0 < tokens < 2000
    cost = usage_cents(DEMO, 8, tokens)
    assert done["usage"]["cost_cents"] == cost
    assert done["charge_cents"] == 100 + cost
    assert done["refunded_cents"] == 103 - 100 - cost

    events = rec.run_events(run_id)
    assert [e["type"] for e in rec.terminals(run_id)] == ["run.canceled"]
    assert events[-1]["type"] == "run.canceled"
    deltas = [e for e in events if e["type"] == "run.delta"]
    assert "".join(d["text"] for d in deltas) == done["output"]

    txs = await run_transactions(run_id)
    assert txs["run_cancel"] == {
        "promo_hold": -103,
        "promo_wallet": 3 - cost,
        "usage_revenue": cost,
        "platform_fees": 20,
        "promo_earnings_pending": 80,
    }
    [sale] = rec.on(f"sales#{creator.id}", "sale.created")
    assert (sale["run_id"], sale["gross_cents"], sale["earning_cents"]) == (run_id, 100, 80)
    assert (await wallet(client, buyer))["balance_cents"] == 500 - 100 - cost
    r = await client.get("/creator/earnings", headers=creator.headers)
    assert r.json()["pending_cents"] == 80
    r = await client.get("/creator/sales", headers=creator.headers)
    assert [(s["run_id"], s["earning_cents"]) for s in r.json()["items"]] == [(run_id, 80)]
    r = await client.get(f"/prompts/{prompt['id']}")
    assert r.json()["live_runs"] == 0
    await assert_ledger_invariants()


async def test_the_estimate_states_the_cancel_rule(client, register):
    creator = await register()
    prompt = await make_prompt(client, creator, price_cents=100)
    r = await client.get(f"/prompts/{prompt['id']}/estimate")
    rule = r.json()["cancel_rule"]
    assert "before the first output token costs nothing" in rule
    assert "full price plus the usage so far" in rule


async def test_admin_can_refund_a_run_cancelled_after_output(client, register):
    """A charged cancelled run is a sale like a completed one, so support can reverse it."""
    from hub.platform.db import fetch

    creator = await register()
    buyer = await register()
    admin = await register()
    await fetch("UPDATE users SET roles = '{admin}' WHERE id = $1::uuid", admin.id)
    r = await client.post(
        "/auth/login", json={"email": admin["email"], "password": admin["password"]}
    )
    admin_headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    prompt = await make_prompt(client, creator, price_cents=100)
    r = await start(client, buyer, prompt["id"], max_tokens=2000)
    run_id = r.json()["id"]
    await wait_run(client, buyer, run_id, until=lambda run: len(run["output"]) > 20)
    await client.post(f"/runs/{run_id}/cancel", headers=buyer.headers)
    done = await wait_run(client, buyer, run_id)
    assert done["status"] == "canceled" and done["charge_cents"] > 100
    r = await client.post(f"/admin/runs/{run_id}/refund", headers=admin_headers)
    assert r.status_code == 200, r.text
    assert r.json()["refunded_cents"] == done["charge_cents"]
    assert (await wallet(client, buyer))["balance_cents"] == 500
    await assert_ledger_invariants()
