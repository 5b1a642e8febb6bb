"""What a buyer is told when a run cannot start, and who may see or cancel a run."""

from __future__ import annotations

import uuid

from hub.billing import wallets
from tests.billing.invariants import assert_ledger_invariants
from tests.runs.helpers import make_prompt, start, wait_run, wallet


def problem(r, status: int, *needles: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    for needle in needles:
        assert needle in r.text, f"{needle!r} not in {r.text}"
    return body


async def test_start_refusals_name_what_to_fix(client, register):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, template="Poem about {{topic}} for {{person}}.")
    pid = prompt["id"]
    headers = buyer.headers
    url = f"/prompts/{pid}/runs"

    r = await client.post(url, json={"inputs": {"topic": "x", "person": "y"}}, headers=headers)
    problem(r, 400, "Idempotency-Key")
    r = await start(client, buyer, pid, inputs={"topic": "x"})
    problem(r, 422, "inputs.person")
    r = await start(client, buyer, pid, inputs={"topic": "x", "person": "y", "extra": "z"})
    problem(r, 422, "inputs.extra")
    r = await start(client, buyer, pid, inputs={"topic": "x", "person": "y"}, max_tokens=5000)
    problem(r, 422, "max_tokens")
    r = await start(client, buyer, pid, inputs={"topic": "x", "person": "y"}, visibility="loud")
    problem(r, 400, "visibility")
    r = await start(client, buyer, str(uuid.uuid4()), inputs={"topic": "x", "person": "y"})
    problem(r, 404)
    r = await client.post(
        url, json={"inputs": {"topic": "x", "person": "y"}}, headers={"Idempotency-Key": "k"}
    )
    assert r.status_code == 401

    r = await client.patch(f"/prompts/{pid}", json={"status": "archived"}, headers=creator.headers)
    assert r.status_code == 200, r.text
    r = await start(client, buyer, pid, inputs={"topic": "x", "person": "y"})
    problem(r, 404)
    assert (await wallet(client, buyer))["balance_cents"] == 500
    await assert_ledger_invariants()


async def test_insufficient_funds_is_402_with_the_estimate(client, register):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=600)
    r = await start(client, buyer, prompt["id"], max_tokens=10)
    body = problem(r, 402, "600 price", "500 cents")
    assert body["estimate"] == {
        **body["estimate"],
        "price_cents": 600,
        "usage_cap_cents": 1,
        "hold_cents": 601,
    }
    assert body["balance_cents"] == 500
    assert (await wallet(client, buyer))["held_cents"] == 0


async def test_daily_spending_limit_is_429(client, register):
    creator = await register()
    buyer = await register()
    await wallets.grant_credits(buyer.id, 10_000, ref=f"test:limit:{buyer.id}")
    prompt = await make_prompt(client, creator, price_cents=3000)
    first = await start(client, buyer, prompt["id"], max_tokens=4)
    assert first.status_code == 202, first.text
    second = await start(client, buyer, prompt["id"], max_tokens=4)
    body = problem(second, 429, "daily limit of 5000 cents", "midnight UTC")
    assert body["spent_today_cents"] == 3001 and int(second.headers["retry-after"]) > 0
    await wait_run(client, buyer, first.json()["id"])
    w = await wallet(client, buyer)
    assert w["spent_today_cents"] == 3001 and w["spending_limit_cents"] == 5000
    await assert_ledger_invariants()


async def test_creator_runs_own_prompt_for_usage_only(client, register):
    creator = await register()
    prompt = await make_prompt(client, creator, price_cents=300)
    r = await start(client, creator, prompt["id"], max_tokens=4)
    assert r.status_code == 202 and r.json()["price_cents"] == 0 and r.json()["hold_cents"] == 1
    run = await wait_run(client, creator, r.json()["id"])
    assert run["status"] == "completed" and run["charge_cents"] == 1
    sales = await client.get("/creator/sales", headers=creator.headers)
    assert sales.json()["items"] == []


async def test_private_runs_are_the_buyers_public_runs_anyones(client, register):
    creator = await register()
    buyer, other = await register(), await register()
    prompt = await make_prompt(client, creator, price_cents=5)
    private = (await start(client, buyer, prompt["id"], max_tokens=4)).json()
    public = (await start(client, buyer, prompt["id"], max_tokens=4, visibility="public")).json()
    await wait_run(client, buyer, private["id"])
    await wait_run(client, buyer, public["id"])

    assert (await client.get(f"/runs/{private['id']}", headers=other.headers)).status_code == 404
    assert (await client.get(f"/runs/{private['id']}")).status_code == 404
    seen = await client.get(f"/runs/{public['id']}")
    assert seen.status_code == 200 and seen.json()["output"]
    assert seen.json()["charge_cents"] is None  # the buyer's money is the buyer's business
    mine = await client.get(f"/runs/{public['id']}", headers=buyer.headers)
    assert mine.json()["charge_cents"] == 6

    r = await client.post(f"/runs/{public['id']}/cancel", headers=other.headers)
    assert r.status_code == 404
    r = await client.post(f"/runs/{public['id']}/cancel", headers=buyer.headers)
    problem(r, 409, "already ended")
    r = await client.get(f"/runs/{uuid.uuid4()}")
    assert r.status_code == 404

    page = await client.get("/me/runs", params={"limit": 1}, headers=buyer.headers)
    assert page.json()["items"][0]["id"] == public["id"] and page.json()["next_cursor"]
    page2 = await client.get(
        "/me/runs", params={"limit": 1, "cursor": page.json()["next_cursor"]}, headers=buyer.headers
    )
    assert page2.json()["items"][0]["id"] == private["id"]
