"""Creator subscriptions end to end: a plan, a Stripe Billing subscription (a fake at its HTTP
boundary), the signed webhooks that drive its state, covered runs, the invoice as a sale in
the ledger, cancelling, a failed payment and its grace period. The ledger invariants hold
after each."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from hub.platform.db import fetch
from tests.billing.invariants import assert_ledger_invariants
from tests.billing.test_topups import post_webhook
from tests.problems import assert_problem
from tests.runs.helpers import make_prompt, start, wait_run


async def offer_plan(client, creator, price_cents=500, runs_included=2) -> dict:
    r = await client.put(
        "/creator/plan",
        json={"price_cents": price_cents, "runs_included": runs_included},
        headers=creator.headers,
    )
    assert r.status_code == 200, r.text
    return r.json()


async def subscribe(client, buyer, creator) -> dict:
    r = await client.post(f"/creators/{creator.handle}/subscribe", headers=buyer.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def send(client, events: list[dict]) -> list[bool]:
    applied = []
    for event in events:
        r = await post_webhook(client, event)
        assert r.status_code == 200, r.text
        applied.append(r.json()["applied"])
    return applied


async def stripe_sub(subscription_id: str) -> str:
    rows = await fetch(
        "SELECT stripe_subscription_id FROM subscriptions WHERE id = $1::uuid", subscription_id
    )
    return rows[0]["stripe_subscription_id"]


async def my_subscription(client, buyer) -> dict:
    items = (await client.get("/me/subscriptions", headers=buyer.headers)).json()["items"]
    assert items, "no subscription"
    return items[0]


async def run_once(client, buyer, prompt_id) -> dict:
    r = await start(client, buyer, prompt_id, max_tokens=5)
    assert r.status_code == 202, r.text
    return await wait_run(client, buyer, r.json()["id"])


async def sales_count(client, creator) -> int:
    return len((await client.get("/creator/sales", headers=creator.headers)).json()["items"])


async def test_paid_subscription_covers_runs_and_is_a_sale_for_the_creator(
    client, register, billing
):
    creator, buyer = await register(), await register()
    plan = await offer_plan(client, creator, price_cents=500, runs_included=2)
    assert (plan["price_cents"], plan["runs_included"], plan["active"]) == (500, 2, True)
    public = (await client.get(f"/creators/{creator.handle}/plan")).json()
    assert public["price_cents"] == 500 and public["subscriber_count"] == 0
    prompt = await make_prompt(client, creator, price_cents=40)

    started = await subscribe(client, buyer, creator)
    assert started["subscription"]["status"] == "incomplete"
    assert started["client_secret"] and started["payment_intent_id"].startswith("pi_")
    assert started["subscription"]["covered"] is False
    # Not paid yet: the run costs its price, as for anyone.
    est = (await client.get(f"/prompts/{prompt['id']}/estimate", headers=buyer.headers)).json()
    assert est["price_cents"] == 40 and est["covered_by_subscription"] is False

    sub_id = await stripe_sub(started["subscription"]["id"])
    events = billing.pay(sub_id)
    assert await send(client, events) == [True, True]
    # Each event once: replays change nothing.
    assert await send(client, events) == [False, False]

    mine = await my_subscription(client, buyer)
    assert (mine["status"], mine["covered"], mine["runs_used"]) == ("active", True, 0)
    assert mine["creator_handle"] == creator.handle
    est = (await client.get(f"/prompts/{prompt['id']}/estimate", headers=buyer.headers)).json()
    assert est["price_cents"] == 0 and est["covered_by_subscription"] is True
    assert est["hold_cents"] == est["usage_cap_cents"]

    # The invoice is a sale for the creator: 500 − 20% fee, pending like a run's sale.
    earnings = (await client.get("/creator/earnings", headers=creator.headers)).json()
    assert earnings["pending_cents"] == 400
    receipts = (await client.get("/me/receipts", headers=creator.headers)).json()["items"]
    sale = (await client.get(f"/me/receipts/{receipts[0]['id']}", headers=creator.headers)).json()
    assert sale["kind"] == "subscription_sale"
    assert (sale["subtotal_cents"], sale["fee_cents"], sale["total_cents"]) == (500, 100, 400)
    paid = (await client.get("/me/receipts", headers=buyer.headers)).json()["items"][0]
    invoice = (await client.get(f"/me/receipts/{paid['id']}", headers=buyer.headers)).json()
    assert invoice["kind"] == "subscription_invoice" and invoice["total_cents"] == 500
    assert invoice["ids"]["invoice_id"].startswith("in_") and paid["amount_cents"] == -500

    # Two runs covered: usage only, from the wallet; no run sale for the creator.
    before = (await client.get("/me/wallet", headers=buyer.headers)).json()["balance_cents"]
    covered = [await run_once(client, buyer, prompt["id"]) for _ in range(2)]
    assert [r["price_cents"] for r in covered] == [0, 0]
    usage = sum(r["charge_cents"] for r in covered)
    assert usage == sum(r["usage"]["cost_cents"] for r in covered)
    after = (await client.get("/me/wallet", headers=buyer.headers)).json()["balance_cents"]
    assert before - after == usage
    assert await sales_count(client, creator) == 0
    mine = await my_subscription(client, buyer)
    assert (mine["runs_used"], mine["covered"]) == (2, False)
    # The third run of the month costs the price again, and is a sale.
    third = await run_once(client, buyer, prompt["id"])
    assert third["price_cents"] == 40 and third["charge_cents"] > 40
    assert await sales_count(client, creator) == 1

    # The creator sees the subscriber; the earnings mature like a sale's.
    subs = (await client.get("/creator/plan/subscribers", headers=creator.headers)).json()
    assert [s["subscriber_handle"] for s in subs["items"]] == [buyer.handle]
    from hub.subscriptions.webhooks import mature_invoices

    assert await mature_invoices(as_of=datetime.now(UTC) + timedelta(days=8)) >= 400
    assert await mature_invoices(as_of=datetime.now(UTC) + timedelta(days=8)) == 0
    earnings = (await client.get("/creator/earnings", headers=creator.headers)).json()
    assert earnings["available_cents"] == 400
    export = (await client.get("/me/export", headers=buyer.headers)).json()["subscriptions"]
    assert export["subscriptions"][0]["status"] == "active"
    assert [i["amount_cents"] for i in export["invoices_paid"]] == [500]
    await assert_ledger_invariants()


async def test_concurrent_runs_never_exceed_the_included_runs(client, register, billing):
    creator, buyer = await register(), await register()
    await offer_plan(client, creator, runs_included=3)
    prompt = await make_prompt(client, creator, price_cents=5)
    started = await subscribe(client, buyer, creator)
    await send(client, billing.pay(await stripe_sub(started["subscription"]["id"])))
    responses = await asyncio.gather(
        *(start(client, buyer, prompt["id"], max_tokens=3) for _ in range(8))
    )
    assert [r.status_code for r in responses] == [202] * 8
    prices = sorted(r.json()["price_cents"] for r in responses)
    assert prices == [0, 0, 0, 5, 5, 5, 5, 5]
    for r in responses:
        await wait_run(client, buyer, r.json()["id"])
    await assert_ledger_invariants()


async def test_cancel_at_period_end_then_it_ends(client, register, billing):
    creator, buyer = await register(), await register()
    await offer_plan(client, creator)
    prompt = await make_prompt(client, creator, price_cents=40)
    started = await subscribe(client, buyer, creator)
    sub_id = await stripe_sub(started["subscription"]["id"])
    await send(client, billing.pay(sub_id))

    r = await client.post(
        f"/me/subscriptions/{started['subscription']['id']}/cancel", headers=buyer.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["cancel_at_period_end"] is True and r.json()["covered"] is True
    assert billing.objects[sub_id]["cancel_at_period_end"] is True
    # Still covered until the period ends.
    assert (await run_once(client, buyer, prompt["id"]))["price_cents"] == 0
    assert await send(client, billing.end(sub_id)) == [True]
    mine = await my_subscription(client, buyer)
    assert (mine["status"], mine["covered"]) == ("canceled", False)
    assert (await run_once(client, buyer, prompt["id"]))["price_cents"] == 40
    # Subscribing again is possible once it ended.
    again = await subscribe(client, buyer, creator)
    assert again["subscription"]["id"] != started["subscription"]["id"]
    r = await client.post(
        f"/me/subscriptions/{started['subscription']['id']}/cancel", headers=buyer.headers
    )
    assert_problem(r, 409)
    await assert_ledger_invariants()


async def test_failed_renewal_covers_through_the_grace_period_only(client, register, billing):
    creator, buyer = await register(), await register()
    await offer_plan(client, creator)
    prompt = await make_prompt(client, creator, price_cents=40)
    started = await subscribe(client, buyer, creator)
    ours = started["subscription"]["id"]
    sub_id = await stripe_sub(ours)
    await send(client, billing.pay(sub_id))

    billing.renew(sub_id)
    assert await send(client, billing.fail(sub_id)) == [True, True]
    mine = await my_subscription(client, buyer)
    assert mine["status"] == "past_due" and mine["covered"] is True and mine["grace_until"]
    assert (await run_once(client, buyer, prompt["id"]))["price_cents"] == 0

    # Time passes (by data): the period and the grace period are over.
    await fetch(
        "UPDATE subscriptions SET current_period_start = now() - interval '34 days', "
        "current_period_end = now() - interval '4 days', grace_until = now() - interval '1 day' "
        "WHERE id = $1::uuid",
        ours,
    )
    mine = await my_subscription(client, buyer)
    assert mine["covered"] is False
    assert (await run_once(client, buyer, prompt["id"]))["price_cents"] == 40
    # Stripe's retry succeeds: a new paid period, covered again.
    assert await send(client, billing.pay(sub_id)) == [True, True]
    mine = await my_subscription(client, buyer)
    assert (mine["status"], mine["covered"], mine["grace_until"]) == ("active", True, None)
    earnings = (await client.get("/creator/earnings", headers=creator.headers)).json()
    assert earnings["pending_cents"] == 400 + 400 + 32  # two invoices and one run sale
    await assert_ledger_invariants()


async def test_one_invoice_pays_once_whatever_the_events(client, register, billing):
    from tests.subscriptions.billing_fake import event

    creator, buyer = await register(), await register()
    await offer_plan(client, creator)
    started = await subscribe(client, buyer, creator)
    sub_id = await stripe_sub(started["subscription"]["id"])
    paid = billing.pay(sub_id)[0]
    # The same invoice in a second, different event (Stripe may send both kinds).
    twin = event("invoice.paid", paid["data"]["object"])
    results = await asyncio.gather(post_webhook(client, paid), post_webhook(client, twin))
    assert sorted(r.json()["applied"] for r in results) == [False, True]
    rows = await fetch(
        "SELECT count(*) AS n FROM ledger_transactions WHERE ref = $1",
        f"invoice:{paid['data']['object']['id']}",
    )
    assert rows[0]["n"] == 1
    # An invoice of a subscription that is not ours moves nothing.
    stranger = dict(paid["data"]["object"], id="in_unknown", subscription="sub_unknown")
    assert (await post_webhook(client, event("invoice.paid", stranger))).json()["applied"] is False
    await assert_ledger_invariants()


async def test_the_rules_of_subscribing(client, register, billing):
    creator, buyer = await register(), await register()
    assert_problem(
        await client.post(f"/creators/{creator.handle}/subscribe", headers=buyer.headers), 404
    )
    assert_problem(await client.get(f"/creators/{creator.handle}/plan"), 404)
    r = await client.put(
        "/creator/plan", json={"price_cents": 50, "runs_included": 2}, headers=creator.headers
    )
    assert r.status_code == 400 and "price_cents" in r.text
    await offer_plan(client, creator)
    r = await client.post(f"/creators/{creator.handle}/subscribe", headers=creator.headers)
    assert_problem(r, 422)
    await subscribe(client, buyer, creator)
    r = await client.post(f"/creators/{creator.handle}/subscribe", headers=buyer.headers)
    assert_problem(r, 409)
    assert r.json()["type"].endswith("already-subscribed")
    # A new price is a new Stripe Price; the plan ends without touching subscribers.
    changed = await offer_plan(client, creator, price_cents=900, runs_included=5)
    assert changed["price_cents"] == 900
    assert (await client.delete("/creator/plan", headers=creator.headers)).status_code == 204
    assert_problem(await client.get(f"/creators/{creator.handle}/plan"), 404)
    assert (await my_subscription(client, buyer))["price_cents"] == 500


async def test_without_stripe_keys_plans_answer_503(client, register):
    creator = await register()
    r = await client.put(
        "/creator/plan", json={"price_cents": 500, "runs_included": 2}, headers=creator.headers
    )
    assert_problem(r, 503)


async def wait_until_canceled(subscription_id: str, within: float = 15.0) -> None:
    """The erasure's outbox job runs on the worker: wait for it to have ended the
    subscription."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        rows = await fetch("SELECT status FROM subscriptions WHERE id = $1::uuid", subscription_id)
        if rows[0]["status"] == "canceled":
            return
        assert asyncio.get_running_loop().time() < deadline, rows[0]["status"]
        await asyncio.sleep(0.05)


async def test_erasing_an_account_ends_its_subscriptions_at_stripe(client, register, billing):
    """An erased subscriber is never charged again, and an erased creator's subscribers are not
    charged for a creator who is gone: each subscription is cancelled at Stripe at once."""
    creator, buyer, fan = await register(), await register(), await register()
    await offer_plan(client, creator)
    mine = await subscribe(client, buyer, creator)
    theirs = await subscribe(client, fan, creator)
    for started in (mine, theirs):
        await send(client, billing.pay(await stripe_sub(started["subscription"]["id"])))

    r = await client.delete("/me", headers=buyer.headers)
    assert r.status_code == 204, r.text
    await wait_until_canceled(mine["subscription"]["id"])
    stripe_id = await stripe_sub(mine["subscription"]["id"])
    assert ("DELETE", f"/v1/subscriptions/{stripe_id}") in billing.calls
    assert billing.objects[stripe_id]["status"] == "canceled"
    # Stripe's own confirmation then changes nothing.
    assert await send(client, billing.end(stripe_id)) == [False]
    assert (await my_subscription(client, fan))["status"] == "active"

    r = await client.delete("/me", headers=creator.headers)
    assert r.status_code == 204, r.text
    await wait_until_canceled(theirs["subscription"]["id"])
    assert (await my_subscription(client, fan))["status"] == "canceled"
    rows = await fetch(
        "SELECT active FROM subscription_plans WHERE creator_id = $1::uuid", creator.id
    )
    assert rows[0]["active"] is False
    await assert_ledger_invariants()
