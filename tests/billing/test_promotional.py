"""Promotional credits cannot be cashed out: what they buy earns creators promotional
earnings, payable only up to HUB_PROMO_EARNINGS_CAP_CENTS (1000) per creator per month."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from hub.billing import creators
from hub.platform.db import fetch
from tests.billing.invariants import assert_ledger_invariants
from tests.billing.test_topups import intent_event, post_webhook
from tests.problems import assert_problem
from tests.runs.helpers import LiveRecorder, make_prompt, run_transactions, start, wait_run, wallet


async def _earnings(client, creator) -> dict:
    return (await client.get("/creator/earnings", headers=creator.headers)).json()


async def test_throwaway_accounts_cannot_turn_starter_credits_into_payouts(client, register):
    """Three new accounts spend their starter credits on one creator's 499-cent prompt:
    3 x 399 cents of earnings, of which 1000 are payable this month and 197 never."""
    creator = await register()
    prompt = await make_prompt(client, creator, price_cents=499)
    buyers = [await register() for _ in range(3)]
    with LiveRecorder() as rec:
        started = await asyncio.gather(
            *(start(client, b, prompt["id"], max_tokens=1) for b in buyers)
        )
        assert [r.status_code for r in started] == [202] * 3, [r.text for r in started]
        assert all(r.json()["hold_cents"] == 500 for r in started)
        done = [
            await wait_run(client, b, r.json()["id"]) for b, r in zip(buyers, started, strict=True)
        ]
        deadline = asyncio.get_running_loop().time() + 10
        while len(rec.on(f"sales#{creator.id}", "sale.created")) < 3:
            assert asyncio.get_running_loop().time() < deadline, "sale.created missing"
            await asyncio.sleep(0.02)
    assert all(d["status"] == "completed" for d in done)
    for b in buyers:
        w = await wallet(client, b)
        assert (w["balance_cents"], w["promo_balance_cents"]) == (0, 0)

    e = await _earnings(client, creator)
    assert (e["pending_cents"], e["promo_pending_cents"], e["withheld_cents"]) == (1000, 1000, 197)
    assert e["lifetime_cents"] == 1000
    # The month's cap is used up (checked when no month turned since the runs began).
    assert e["promo_cap_cents"] == 1000
    if min(d["created_at"] for d in done)[:7] == datetime.now(UTC).strftime("%Y-%m"):
        assert e["promo_month_cents"] == 1000

    sales = (await client.get("/creator/sales", headers=creator.headers)).json()["items"]
    assert len(sales) == 3 and all(s["promotional"] for s in sales)
    assert all(
        (s["gross_cents"], s["promo_gross_cents"], s["earning_cents"]) == (499, 499, 399)
        for s in sales
    )
    assert sum(s["promo_earning_cents"] for s in sales) == 1000
    assert sum(s["withheld_cents"] for s in sales) == 197
    events = rec.on(f"sales#{creator.id}", "sale.created")
    assert all(ev["promotional"] for ev in events)
    assert sum(ev["withheld_cents"] for ev in events) == 197

    # In the ledger: the holds were promotional, and so are the creator's entries.
    withheld_run = next(s["run_id"] for s in sales if s["withheld_cents"])
    txs = await run_transactions(withheld_run)
    assert txs["run_hold"] == {"promo_wallet": -500, "promo_hold": 500}
    assert txs["run_settle"]["promo_earnings_withheld"] > 0
    ledger = (await client.get("/me/ledger", headers=creator.headers)).json()["items"]
    sold = {i["account"] for i in ledger if i["kind"] == "run_settle"}
    assert sold == {"promo_earnings_pending", "promo_earnings_withheld"}

    # After the hold period only the payable part becomes available; the rest stays put.
    assert await creators.mature_earnings(as_of=datetime.now(UTC) + timedelta(days=8)) >= 1000
    e = await _earnings(client, creator)
    assert (e["pending_cents"], e["available_cents"], e["withheld_cents"]) == (0, 1000, 197)
    await assert_ledger_invariants()


async def test_paid_money_earns_ordinary_earnings(client, register, payments):
    """A buyer who paid by card (no starter credits: the email is unverified) funds an
    ordinary sale, outside the promotional cap."""
    creator = await register()
    buyer = await register(verify=False)
    prompt = await make_prompt(client, creator, price_cents=499)
    assert_problem(await start(client, buyer, prompt["id"], max_tokens=1), 402)
    r = await client.post(
        "/me/wallet/topups",
        headers={**buyer.headers, "Idempotency-Key": str(uuid.uuid4())},
        json={"amount_cents": 1500},
    )
    assert r.status_code == 201, r.text
    event = intent_event("payment_intent.succeeded", r.json()["payment_intent_id"], 1500)
    assert (await post_webhook(client, event)).json()["applied"] is True
    w = await wallet(client, buyer)
    assert (w["balance_cents"], w["promo_balance_cents"]) == (1500, 0)

    run = await start(client, buyer, prompt["id"], max_tokens=1)
    done = await wait_run(client, buyer, run.json()["id"])
    assert done["status"] == "completed"
    txs = await run_transactions(done["id"])
    assert txs["run_hold"] == {"wallet": -500, "hold": 500}
    assert txs["run_settle"]["earnings_pending"] == 399
    e = await _earnings(client, creator)
    assert (e["pending_cents"], e["promo_pending_cents"], e["withheld_cents"]) == (399, 0, 0)
    [sale] = (await client.get("/creator/sales", headers=creator.headers)).json()["items"]
    assert sale["promotional"] is False and sale["withheld_cents"] == 0
    await assert_ledger_invariants()


async def test_promotional_credits_pay_first_and_refunds_return_them(client, register):
    """A hold takes promotional credits first; a failed or refunded run gives each kind of
    money back where it came from."""
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=300)
    done = await wait_run(
        client, buyer, (await start(client, buyer, prompt["id"], max_tokens=1)).json()["id"]
    )
    assert done["charge_cents"] == 301
    w = await wallet(client, buyer)
    assert (w["balance_cents"], w["promo_balance_cents"]) == (199, 199)

    admin = await register()
    await fetch("UPDATE users SET roles = '{admin}' WHERE id = $1::uuid", admin.id)
    login = await client.post(
        "/auth/login", json={"email": admin["email"], "password": admin["password"]}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    r = await client.post(f"/admin/runs/{done['id']}/refund", headers=headers)
    assert r.status_code == 200, r.text
    w = await wallet(client, buyer)
    assert (w["balance_cents"], w["promo_balance_cents"]) == (500, 500)
    e = await _earnings(client, creator)
    assert (e["pending_cents"], e["withheld_cents"]) == (0, 0)
    await assert_ledger_invariants()
