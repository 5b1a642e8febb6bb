"""Wallet top-ups: Stripe (localstripe, a stateful fake at the HTTP boundary) and its webhook."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import stripe

from tests.billing.conftest import WEBHOOK_SECRET
from tests.billing.invariants import assert_ledger_invariants
from tests.problems import assert_problem


def signed(event: dict, secret: str = WEBHOOK_SECRET) -> tuple[bytes, str]:
    payload = json.dumps(event)
    ts = int(time.time())
    sig = stripe.WebhookSignature._compute_signature(f"{ts}.{payload}", secret)
    return payload.encode(), f"t={ts},v1={sig}"


def intent_event(kind: str, pi_id: str, amount: int, currency: str = "usd") -> dict:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": kind,
        "data": {
            "object": {
                "id": pi_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount if kind.endswith("succeeded") else 0,
                "currency": currency,
            }
        },
    }


async def post_webhook(client, event: dict, secret: str = WEBHOOK_SECRET):
    body, header = signed(event, secret)
    return await client.post(
        "/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": header, "content-type": "application/json"},
    )


async def balance(client, acct) -> int:
    return (await client.get("/me/wallet", headers=acct.headers)).json()["balance_cents"]


async def test_without_stripe_keys_topups_answer_503(client, register):
    acct = await register()
    r = await client.post("/me/wallet/topups", headers=acct.headers, json={"amount_cents": 1000})
    assert "not configured" in assert_problem(r, 503)["detail"]


async def test_topup_is_credited_once_by_the_signed_webhook(client, register, payments):
    acct = await register()
    before = await balance(client, acct)
    r = await client.post(
        "/me/wallet/topups",
        headers={**acct.headers, "Idempotency-Key": "k1"},
        json={"amount_cents": 1500},
    )
    assert r.status_code == 201, r.text
    topup = r.json()
    assert topup["payment_intent_id"].startswith("pi_") and topup["client_secret"]
    again = await client.post(
        "/me/wallet/topups",
        headers={**acct.headers, "Idempotency-Key": "k1"},
        json={"amount_cents": 1500},
    )
    assert again.json()["payment_intent_id"] == topup["payment_intent_id"]
    # The client's word moves no money.
    assert await balance(client, acct) == before
    # Forged or unsigned webhooks are refused.
    event = intent_event("payment_intent.succeeded", topup["payment_intent_id"], 1500)
    assert_problem(await post_webhook(client, event, secret="whsec_wrong"), 400)
    r = await client.post("/webhooks/stripe", content=json.dumps(event).encode())
    assert_problem(r, 400)
    assert await balance(client, acct) == before
    # The real one credits the wallet; replays and a second event for the same intent do not.
    results = await asyncio.gather(*[post_webhook(client, event) for _ in range(5)])
    assert [r.status_code for r in results] == [200] * 5
    assert sum(r.json()["applied"] for r in results) == 1
    other = intent_event("payment_intent.succeeded", topup["payment_intent_id"], 1500)
    assert (await post_webhook(client, other)).json()["applied"] is False
    assert await balance(client, acct) == before + 1500
    ledger = (await client.get("/me/ledger", headers=acct.headers)).json()["items"]
    assert ledger[0]["kind"] == "topup" and ledger[0]["amount_cents"] == 1500
    # Paid money lands in the wallet proper, apart from the promotional starter credits.
    assert ledger[0]["account"] == "wallet" and ledger[0]["balance_after_cents"] == 1500
    w = (await client.get("/me/wallet", headers=acct.headers)).json()
    assert (w["balance_cents"], w["promo_balance_cents"]) == (before + 1500, before)
    await assert_ledger_invariants()


async def test_failed_mismatched_and_foreign_intents_move_no_money(client, register, payments):
    acct = await register()
    before = await balance(client, acct)
    pi = (
        await client.post("/me/wallet/topups", headers=acct.headers, json={"amount_cents": 800})
    ).json()
    assert (
        await post_webhook(
            client, intent_event("payment_intent.payment_failed", pi["payment_intent_id"], 800)
        )
    ).status_code == 200
    assert (
        await post_webhook(
            client, intent_event("payment_intent.succeeded", pi["payment_intent_id"], 1)
        )
    ).json()["applied"] is False
    assert (
        await post_webhook(client, intent_event("payment_intent.succeeded", "pi_not_ours", 800))
    ).json()["applied"] is False
    assert (
        await post_webhook(client, {**intent_event("charge.refunded", "ch_1", 5)})
    ).status_code == 200
    assert await balance(client, acct) == before
    await assert_ledger_invariants()


async def test_topup_amount_is_validated(client, register, payments):
    acct = await register()
    for amount in (0, 499, 50_001, "10"):
        r = await client.post(
            "/me/wallet/topups", headers=acct.headers, json={"amount_cents": amount}
        )
        assert_problem(r, 400, "amount_cents")
    assert_problem(await client.post("/me/wallet/topups", json={"amount_cents": 1000}), 401)


async def test_idempotency_key_reused_for_another_amount_is_422(client, register, payments):
    acct = await register()
    headers = {**acct.headers, "Idempotency-Key": "same"}
    assert (
        await client.post("/me/wallet/topups", headers=headers, json={"amount_cents": 1000})
    ).status_code == 201
    r = await client.post("/me/wallet/topups", headers=headers, json={"amount_cents": 2000})
    assert_problem(r, 422, "amount_cents")
