"""GDPR: runs and money in the export; erasure removes inputs and outputs, keeps the money."""

from __future__ import annotations

from hub.platform.db import fetchrow
from tests.billing.invariants import assert_ledger_invariants
from tests.runs.helpers import make_prompt, start, wait_run


async def test_export_and_erasure(client, register):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=12)
    r = await start(client, buyer, prompt["id"], inputs={"topic": "my secret garden"}, max_tokens=5)
    run = await wait_run(client, buyer, r.json()["id"])

    export = (await client.get("/me/export", headers=buyer.headers)).json()
    [mine] = export["runs"]
    assert mine["id"] == run["id"] and mine["inputs"] == {"topic": "my secret garden"}
    assert mine["output"] == run["output"] and mine["charge_cents"] == 13
    assert export["money"]["wallet"]["balance_cents"] == 500 - 13
    assert [e["kind"] for e in export["money"]["ledger"]] == [
        "starter_credits",
        "run_hold",
        "run_hold",
        "run_settle",
    ]
    sales = (await client.get("/me/export", headers=creator.headers)).json()["money"]["sales"]
    assert [s["run_id"] for s in sales] == [run["id"]]

    r = await client.delete("/me", headers=buyer.headers)
    assert r.status_code == 204, r.text
    row = await fetchrow(
        "SELECT inputs, output, charge_cents, status FROM runs WHERE id = $1::uuid", run["id"]
    )
    assert (row["output"], row["charge_cents"], row["status"]) == ("", 13, "completed")
    assert row["inputs"] in ("{}", {})
    await assert_ledger_invariants()
