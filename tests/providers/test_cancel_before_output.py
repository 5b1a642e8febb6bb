"""Cancelling a run whose provider has not sent its first token yet costs nothing."""

from __future__ import annotations

from tests.billing.invariants import assert_ledger_invariants
from tests.runs.helpers import LiveRecorder, make_prompt, run_transactions, start, wait_run, wallet


async def test_cancel_before_the_first_token_costs_nothing(client, register, fake_model):
    """The provider accepted the request but has sent no token yet: the whole hold returns."""
    spec, _ = fake_model("hang", first_token_timeout_seconds=30.0)
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=100, model=spec.name)
    with LiveRecorder() as rec:
        r = await start(client, buyer, prompt["id"], max_tokens=100)
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        hold = r.json()["hold_cents"]
        await wait_run(client, buyer, run_id, until=lambda run: run["status"] == "running")
        c = await client.post(f"/runs/{run_id}/cancel", headers=buyer.headers)
        assert c.status_code == 202, c.text
        done = await wait_run(client, buyer, run_id)

    assert done["status"] == "canceled" and done["output"] == ""
    assert (done["charge_cents"], done["refunded_cents"]) == (0, hold)
    [terminal] = rec.terminals(run_id)
    assert (terminal["charge_cents"], terminal["refunded_cents"]) == (0, hold)
    assert await run_transactions(run_id) == {
        "run_hold": {"promo_wallet": -hold, "promo_hold": hold},
        "run_cancel": {"promo_hold": -hold, "promo_wallet": hold},
    }
    assert rec.on(f"sales#{creator.id}", "sale.created") == []
    assert (await wallet(client, buyer))["balance_cents"] == 500
    r = await client.get("/creator/sales", headers=creator.headers)
    assert r.json()["items"] == []
    await assert_ledger_invariants()
