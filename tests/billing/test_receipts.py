"""Receipts: every top-up, run charge, refund and payout has one, as JSON and as a printable
page, each from the reader's side, adding up to what the ledger moved."""

from __future__ import annotations

import httpx

from hub.billing import payouts
from tests.billing.invariants import assert_ledger_invariants
from tests.billing.test_admin_refund import _admin
from tests.billing.test_payouts import (  # noqa: F401 - fixtures
    account_updated,
    connect,
    connect_fake,
    creator_with_available_earnings,
)
from tests.billing.test_topups import intent_event, post_webhook
from tests.problems import assert_problem
from tests.runs.helpers import make_prompt, start, wait_run


async def receipts_of(client, account) -> list[dict]:
    r = await client.get("/me/receipts", headers=account.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def receipt(client, account, receipt_id: str) -> dict:
    r = await client.get(f"/me/receipts/{receipt_id}", headers=account.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["taxes"] is None and body["currency"] == "USD"
    assert body["number"] == f"BP-{int(receipt_id):08d}"
    return body


async def test_run_charge_for_the_buyer_and_sale_for_the_creator(client, register, hub_server):
    creator, buyer, stranger = await register(), await register(), await register()
    prompt = await make_prompt(client, creator, price_cents=40, title="Tiny receipt story")
    run = await wait_run(
        client, buyer, (await start(client, buyer, prompt["id"], max_tokens=5)).json()["id"]
    )
    assert run["status"] == "completed"

    listed = await receipts_of(client, buyer)
    assert listed[0]["transaction_kind"] == "run_settle" and listed[0]["role"] == "buyer"
    assert listed[0]["amount_cents"] == -run["charge_cents"]
    charge = await receipt(client, buyer, listed[0]["id"])
    assert charge["kind"] == "run_charge"
    assert charge["total_cents"] == run["charge_cents"] == 41
    assert sum(line["amount_cents"] for line in charge["lines"]) == charge["total_cents"]
    assert charge["lines"][0] == {"description": "Run of “Tiny receipt story”", "amount_cents": 40}
    assert charge["lines"][1]["description"] == "Model usage"
    # The starter credits (promotional) paid for it.
    assert (charge["paid_with_promo_cents"], charge["paid_with_wallet_cents"]) == (41, 0)
    assert charge["ids"]["run_id"] == run["id"] and charge["prompt"]["id"] == prompt["id"]
    assert charge["counterparty"]["handle"] == creator.handle
    assert charge["party"]["handle"] == buyer.handle

    sale = await receipt(client, creator, listed[0]["id"])
    assert sale["kind"] == "sale" and sale["role"] == "creator"
    assert (sale["subtotal_cents"], sale["fee_cents"], sale["total_cents"]) == (40, 8, 32)
    assert sale["counterparty"]["handle"] == buyer.handle
    sales = (await client.get("/creator/sales", headers=creator.headers)).json()["items"]
    assert sale["total_cents"] == sales[0]["earning_cents"] - sales[0]["withheld_cents"]

    # Nobody else's: 404, like an id that does not exist.
    assert_problem(
        await client.get(f"/me/receipts/{listed[0]['id']}", headers=stranger.headers), 404
    )
    assert_problem(await client.get("/me/receipts/999999999999", headers=buyer.headers), 404)
    assert (await client.get(f"/me/receipts/{listed[0]['id']}")).status_code == 401

    # The printable page: a public shell, the receipt itself only with the reader's token.
    async with httpx.AsyncClient(base_url=hub_server) as web:
        shell = await web.get(f"/receipts/{listed[0]['id']}")
        assert shell.status_code == 200 and "$0.41" not in shell.text
        assert (await web.get(f"/web/receipts/{listed[0]['id']}")).status_code == 401
        page = await web.get(f"/web/receipts/sale-{run['id']}", headers=creator.headers)
        assert page.status_code == 200 and sale["number"] in page.text and "$0.32" in page.text
        assert "not collected" in page.text
        mine = await web.get(f"/web/receipts/run-{run['id']}", headers=buyer.headers)
        assert charge["number"] in mine.text and "$0.41" in mine.text
        theirs = await web.get(f"/web/receipts/sale-{run['id']}", headers=buyer.headers)
        assert theirs.status_code == 404
    await assert_ledger_invariants()


async def test_refunds_have_receipts(client, register):
    admin = await _admin(client, register)
    creator, buyer = await register(), await register()
    prompt = await make_prompt(client, creator, price_cents=40)
    run = await wait_run(
        client, buyer, (await start(client, buyer, prompt["id"], max_tokens=4)).json()["id"]
    )
    assert (await client.post(f"/admin/runs/{run['id']}/refund", headers=admin)).status_code == 200
    mine = await receipts_of(client, buyer)
    assert [r["transaction_kind"] for r in mine[:2]] == ["run_admin_refund", "run_settle"]
    refund = await receipt(client, buyer, mine[0]["id"])
    assert refund["kind"] == "refund" and refund["total_cents"] == 41
    reversal = await receipt(client, creator, mine[0]["id"])
    assert reversal["kind"] == "sale_refund" and reversal["total_cents"] == -32

    # A run cancelled before any output: a receipt that says nothing was charged.
    r = await start(client, buyer, prompt["id"], max_tokens=1000)
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    await client.post(f"/runs/{run_id}/cancel", headers=buyer.headers)
    ended = await wait_run(client, buyer, run_id)
    latest = (await receipts_of(client, buyer))[0]
    body = await receipt(client, buyer, latest["id"])
    if ended["charge_cents"] == 0:
        assert body["kind"] == "run_refund" and body["total_cents"] == 0
        assert "cancelled before any output" in body["lines"][1]["description"]
    else:  # the demo model was faster than the cancel: charged as a completed run
        assert body["kind"] == "run_charge" and body["total_cents"] == ended["charge_cents"]
    await assert_ledger_invariants()


async def test_topup_receipt(client, register, payments):
    acct = await register()
    r = await client.post("/me/wallet/topups", headers=acct.headers, json={"amount_cents": 1500})
    intent = r.json()["payment_intent_id"]
    event = intent_event("payment_intent.succeeded", intent, 1500)
    assert (await post_webhook(client, event)).json()["applied"] is True
    top = (await receipts_of(client, acct))[0]
    assert top["transaction_kind"] == "topup" and top["amount_cents"] == 1500
    body = await receipt(client, acct, top["id"])
    assert body["kind"] == "topup" and body["total_cents"] == 1500
    assert body["ids"]["payment_intent_id"] == intent
    await assert_ledger_invariants()


async def test_payout_receipt(client, register, connect):  # noqa: F811
    creator = await creator_with_available_earnings(client, register)
    account = (await client.post("/creator/payout-account", headers=creator.headers)).json()
    await post_webhook(client, account_updated(connect.enable(account["account_id"])))
    await payouts.create_due_payouts()
    payout = (await client.get("/creator/payouts", headers=creator.headers)).json()["items"][0]
    listed = await receipts_of(client, creator)
    assert listed[0]["transaction_kind"] == "payout_created"
    body = await receipt(client, creator, listed[0]["id"])
    assert body["kind"] == "payout" and body["status"] == "paid"
    assert body["total_cents"] == payout["amount_cents"] == 64
    assert body["ids"]["payout_id"] == payout["id"]
    assert body["ids"]["transfer_id"] == payout["transfer_id"]
    await assert_ledger_invariants()


async def test_receipt_list_pages(client, register):
    creator, buyer = await register(), await register()
    prompt = await make_prompt(client, creator, price_cents=5)
    for _ in range(3):
        await wait_run(
            client, buyer, (await start(client, buyer, prompt["id"], max_tokens=2)).json()["id"]
        )
    first = (await client.get("/me/receipts?limit=2", headers=buyer.headers)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (
        await client.get(
            f"/me/receipts?limit=2&cursor={first['next_cursor']}", headers=buyer.headers
        )
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    ids = [i["id"] for i in first["items"] + rest["items"]]
    assert ids == sorted(ids, key=int, reverse=True)
    assert_problem(await client.get("/me/receipts?cursor=bogus", headers=buyer.headers), 400)
