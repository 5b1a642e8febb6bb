"""Support refunds a completed run: the settlement is reversed; a creator whose earning is
already gone owes a debt (never a negative balance), paid off by their next sale."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hub.billing import creators, ledger
from hub.platform.db import fetch, transaction
from tests.billing.invariants import assert_ledger_invariants
from tests.runs.helpers import make_prompt, start, wait_run, wallet


async def _admin(client, register):
    acct = await register()
    await fetch("UPDATE users SET roles = '{admin}' WHERE id = $1::uuid", acct.id)
    r = await client.post(
        "/auth/login", json={"email": acct["email"], "password": acct["password"]}
    )
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _earnings(client, creator) -> dict:
    return (await client.get("/creator/earnings", headers=creator.headers)).json()


async def test_admin_refund_reverses_and_records_creator_debt(client, register):
    admin = await _admin(client, register)
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=40)

    first = await wait_run(
        client, buyer, (await start(client, buyer, prompt["id"], max_tokens=4)).json()["id"]
    )
    assert (await wallet(client, buyer))["balance_cents"] == 459
    assert (
        await client.post(f"/admin/runs/{first['id']}/refund", headers=buyer.headers)
    ).status_code == 403

    r = await client.post(f"/admin/runs/{first['id']}/refund", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "run_id": first["id"],
        "refunded_cents": 41,
        "fee_reversed_cents": 8,
        "earning_reversed_cents": 32,
        "creator_debt_cents": 0,
    }
    assert (await wallet(client, buyer))["balance_cents"] == 500
    assert (await _earnings(client, creator))["pending_cents"] == 0
    assert (await _earnings(client, creator))["lifetime_cents"] == 0
    sales = (await client.get("/creator/sales", headers=creator.headers)).json()["items"]
    assert sales[0]["refunded"] is True
    again = await client.post(f"/admin/runs/{first['id']}/refund", headers=admin)
    assert again.status_code == 409

    # A second sale whose earning has already left the creator's balances: it matured and
    # went out in a payout.
    second = await wait_run(
        client, buyer, (await start(client, buyer, prompt["id"], max_tokens=4)).json()["id"]
    )
    assert await creators.mature_earnings(as_of=datetime.now(UTC) + timedelta(days=8)) >= 32
    acc = await ledger.user_accounts(creator.id, ["earnings_available", "payouts_in_transit"])
    async with transaction():
        await ledger.post(
            "payout_created",
            f"test:payout:{uuid.uuid4()}",
            [(acc["earnings_available"], -32), (acc["payouts_in_transit"], 32)],
        )
    r = await client.post(f"/admin/runs/{second['id']}/refund", headers=admin)
    assert r.json()["creator_debt_cents"] == 32
    e = await _earnings(client, creator)
    assert (e["pending_cents"], e["debt_cents"], e["in_transit_cents"]) == (0, 32, 32)

    # The next sale pays the debt off first.
    third = await wait_run(
        client, buyer, (await start(client, buyer, prompt["id"], max_tokens=4)).json()["id"]
    )
    assert third["status"] == "completed"
    e = await _earnings(client, creator)
    assert (e["pending_cents"], e["debt_cents"]) == (0, 0)
    r = await client.post(f"/admin/runs/{uuid.uuid4()}/refund", headers=admin)
    assert r.status_code == 404
    await assert_ledger_invariants()
