"""The buyer is charged the price they saw: `expected_price_cents` pins it."""

from __future__ import annotations

from tests.billing.invariants import assert_ledger_invariants
from tests.problems import assert_problem
from tests.runs.helpers import make_prompt, start, wait_run, wallet


async def test_a_price_raised_after_the_estimate_is_a_409_and_nothing_is_held(client, register):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=49)
    seen = (await client.get(f"/prompts/{prompt['id']}/estimate", headers=buyer.headers)).json()
    assert seen["price_cents"] == 49

    r = await client.patch(
        f"/prompts/{prompt['id']}", json={"price_cents": 451}, headers=creator.headers
    )
    assert r.status_code == 200, r.text

    r = await start(client, buyer, prompt["id"], expected_price_cents=seen["price_cents"])
    body = assert_problem(r, 409)
    assert body["type"].endswith("/price-changed")
    assert "451" in body["detail"] and "49" in body["detail"]
    assert body["estimate"]["price_cents"] == 451
    assert body["estimate"]["hold_cents"] == 451 + body["estimate"]["usage_cap_cents"]
    assert body["expected_price_cents"] == 49
    w = await wallet(client, buyer)
    assert (w["balance_cents"], w["held_cents"]) == (500, 0)
    assert (await client.get("/me/runs", headers=buyer.headers)).json()["items"] == []

    # The buyer agrees to the new price.
    r = await start(client, buyer, prompt["id"], expected_price_cents=451, max_tokens=10)
    assert r.status_code == 202, r.text
    assert r.json()["price_cents"] == 451
    done = await wait_run(client, buyer, r.json()["id"])
    assert done["status"] == "completed" and done["charge_cents"] == 451 + 1
    await assert_ledger_invariants()


async def test_without_expected_price_the_current_price_applies(client, register):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=49)
    await client.patch(
        f"/prompts/{prompt['id']}", json={"price_cents": 60}, headers=creator.headers
    )
    r = await start(client, buyer, prompt["id"], max_tokens=10)
    assert r.status_code == 202, r.text
    assert r.json()["price_cents"] == 60


async def test_a_lowered_price_is_also_refused_and_the_owner_expects_zero(client, register):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=80)
    await client.patch(
        f"/prompts/{prompt['id']}", json={"price_cents": 20}, headers=creator.headers
    )
    assert_problem(await start(client, buyer, prompt["id"], expected_price_cents=80), 409)
    # The creator runs their own prompt for the usage only: their estimate says 0.
    own = (await client.get(f"/prompts/{prompt['id']}/estimate", headers=creator.headers)).json()
    assert own["price_cents"] == 0
    r = await start(client, creator, prompt["id"], expected_price_cents=0, max_tokens=10)
    assert r.status_code == 202, r.text


async def test_expected_price_is_part_of_the_idempotent_request(client, register):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=30)
    first = await start(client, buyer, prompt["id"], key="k-pin", expected_price_cents=30)
    assert first.status_code == 202, first.text
    again = await start(client, buyer, prompt["id"], key="k-pin", expected_price_cents=30)
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    other = await start(client, buyer, prompt["id"], key="k-pin", expected_price_cents=31)
    assert_problem(other, 422)
    assert_problem(await start(client, buyer, prompt["id"], expected_price_cents="30"), 400)
    assert_problem(await start(client, buyer, prompt["id"], expected_price_cents=-1), 400)
