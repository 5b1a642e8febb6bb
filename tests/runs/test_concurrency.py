"""Correctness under concurrency: the database, not luck, keeps the money right."""

from __future__ import annotations

import asyncio
import uuid

from tests.billing.invariants import assert_ledger_invariants
from tests.runs.helpers import make_prompt, start, wait_run, wallet


async def test_fifty_concurrent_runs_on_a_wallet_that_covers_ten(client, register):
    creator = await register()
    buyer = await register()  # 500 cents of starter credits
    prompt = await make_prompt(client, creator, price_cents=49)  # hold 49 + 1 = 50 cents
    responses = await asyncio.gather(
        *[start(client, buyer, prompt["id"], max_tokens=8) for _ in range(50)]
    )
    codes = sorted(r.status_code for r in responses)
    accepted = [r.json() for r in responses if r.status_code == 202]
    assert len(accepted) == 10, codes
    assert codes.count(402) == 40, codes
    refused = next(r for r in responses if r.status_code == 402)
    problem = refused.json()
    assert problem["estimate"]["hold_cents"] == 50 and "wallet" in problem["detail"]
    assert refused.headers["content-type"].startswith("application/problem+json")

    w = await wallet(client, buyer)
    assert w["balance_cents"] + w["held_cents"] <= 500 and w["balance_cents"] >= 0
    for run in accepted:
        done = await wait_run(client, buyer, run["id"], within=30)
        assert done["status"] == "completed", done
    w = await wallet(client, buyer)
    assert w == {**w, "balance_cents": 0, "held_cents": 0, "spent_today_cents": 500}
    await assert_ledger_invariants()


async def test_same_idempotency_key_twenty_times_concurrently_is_one_run(client, register):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=10)
    key = str(uuid.uuid4())
    responses = await asyncio.gather(
        *[start(client, buyer, prompt["id"], key=key, max_tokens=8) for _ in range(20)]
    )
    assert {r.status_code for r in responses} == {202}, [r.text for r in responses]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    run = await wait_run(client, buyer, ids.pop())
    assert run["status"] == "completed"
    assert (await wallet(client, buyer))["balance_cents"] == 500 - 11

    # Replaying later returns the same run, without charging again.
    again = await start(client, buyer, prompt["id"], key=key, max_tokens=8)
    assert again.status_code == 202 and again.json()["id"] == run["id"]
    assert again.json()["status"] == "completed"
    # The same key with a different body is refused, naming the header.
    other = await start(client, buyer, prompt["id"], key=key, max_tokens=9)
    assert other.status_code == 422 and "Idempotency-Key" in other.text
    assert (await wallet(client, buyer))["balance_cents"] == 500 - 11
    await assert_ledger_invariants()


async def test_keys_are_per_user(client, register):
    creator = await register()
    a, b = await register(), await register()
    prompt = await make_prompt(client, creator, price_cents=0)
    key = str(uuid.uuid4())
    ra = await start(client, a, prompt["id"], key=key, max_tokens=4)
    rb = await start(client, b, prompt["id"], key=key, max_tokens=4)
    assert ra.status_code == rb.status_code == 202
    assert ra.json()["id"] != rb.json()["id"]
    await wait_run(client, a, ra.json()["id"])
    await wait_run(client, b, rb.json()["id"])
