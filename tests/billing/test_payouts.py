"""Creator payouts through Stripe Connect (a fake at its HTTP boundary): exactly once, and
the ledger, the dashboard and the live events agree."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
import pytest_asyncio

from hub.billing import creators, payouts
from tests.billing.connect_fake import ConnectFake
from tests.billing.invariants import assert_ledger_invariants
from tests.billing.test_topups import WEBHOOK_SECRET, post_webhook
from tests.fake_http import serve
from tests.problems import assert_problem
from tests.runs.helpers import make_prompt, start, wait_run


@pytest_asyncio.fixture(scope="session")
async def connect_fake() -> AsyncIterator[tuple[ConnectFake, str]]:
    fake = ConnectFake()
    async with serve(fake) as url:
        yield fake, url


@pytest.fixture
def connect(connect_fake, monkeypatch) -> ConnectFake:
    from hub.billing import topups
    from hub.platform.settings import get_settings

    fake, url = connect_fake
    configured = msgspec.structs.replace(
        get_settings(),
        stripe_secret_key="sk_test_hub",
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_connect_api_base=url,
        payout_minimum_cents=50,
    )
    monkeypatch.setattr(payouts, "get_settings", lambda: configured)
    monkeypatch.setattr(topups, "get_settings", lambda: configured)
    return fake


def account_updated(account: dict) -> dict:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "account.updated",
        "data": {"object": account},
    }


async def creator_with_available_earnings(client, register, runs: int = 2):
    creator, buyer = await register(), await register()
    prompt = await make_prompt(client, creator)  # 40 cents: the creator earns 32 per run
    for _ in range(runs):
        r = await start(client, buyer, prompt["id"], max_tokens=5)
        assert (await wait_run(client, buyer, r.json()["id"]))["status"] == "completed"
    await creators.mature_earnings(as_of=datetime.now(UTC) + timedelta(days=8))
    earnings = (await client.get("/creator/earnings", headers=creator.headers)).json()
    assert earnings["available_cents"] == 32 * runs
    return creator


async def test_onboarding_then_one_payout_paid_once(client, register, connect):
    creator = await creator_with_available_earnings(client, register)
    r = await client.post("/creator/payout-account", headers=creator.headers)
    assert r.status_code == 200, r.text
    account = r.json()
    assert account["payouts_enabled"] is False and account["onboarding_url"].startswith("https://")
    again = (await client.post("/creator/payout-account", headers=creator.headers)).json()
    assert again["account_id"] == account["account_id"]
    # Not enabled yet: nothing is paid out.
    assert await payouts.create_due_payouts() == 0
    # Stripe reports the account enabled (signed webhook).
    r = await post_webhook(client, account_updated(connect.enable(account["account_id"])))
    assert r.json()["applied"] is True
    calls = connect.transfer_calls
    assert await payouts.create_due_payouts() >= 1
    assert connect.transfer_calls == calls + 1
    page = (await client.get("/creator/payouts", headers=creator.headers)).json()
    assert [(p["amount_cents"], p["status"]) for p in page["items"]] == [(64, "paid")]
    assert page["items"][0]["transfer_id"].startswith("tr_")
    earnings = (await client.get("/creator/earnings", headers=creator.headers)).json()
    assert earnings["available_cents"] == 0 and earnings["paid_cents"] == 64
    assert earnings["in_transit_cents"] == 0
    # Nothing left to pay: a second run of the job pays nothing; a retry of the transfer is a no-op.
    await payouts.create_due_payouts()
    await payouts.send_transfer(page["items"][0]["id"])
    assert len((await client.get("/creator/payouts", headers=creator.headers)).json()["items"]) == 1
    await assert_ledger_invariants()


async def test_a_transfer_retried_after_an_outage_is_created_once(client, register, connect):
    creator = await creator_with_available_earnings(client, register)
    account = (await client.post("/creator/payout-account", headers=creator.headers)).json()
    await post_webhook(client, account_updated(connect.enable(account["account_id"])))
    connect.fail_next_transfers = 1  # Stripe answers 500: the payout stays in transit
    await payouts.create_due_payouts()
    [p] = (await client.get("/creator/payouts", headers=creator.headers)).json()["items"]
    assert p["status"] == "in_transit"
    assert (await client.get("/creator/earnings", headers=creator.headers)).json()[
        "in_transit_cents"
    ] == 64
    transfers_before = len(connect.transfers)
    await asyncio.gather(
        *[payouts.send_transfer(p["id"]) for _ in range(3)]
    )  # the reconciler, racing
    assert len(connect.transfers) == transfers_before + 1  # one Transfer: same idempotency key
    [p] = (await client.get("/creator/payouts", headers=creator.headers)).json()["items"]
    assert p["status"] == "paid"
    await assert_ledger_invariants()


async def test_a_refused_transfer_returns_the_money_to_available(client, register, connect):
    from hub.platform.db import fetch

    creator = await creator_with_available_earnings(client, register)
    account = (await client.post("/creator/payout-account", headers=creator.headers)).json()
    refused = "acct_refuse" + uuid.uuid4().hex[:6]
    connect.accounts[refused] = {**connect.enable(account["account_id"]), "id": refused}
    await fetch(
        "UPDATE payout_accounts SET stripe_account_id = $2, payouts_enabled = true WHERE user_id = $1::uuid",
        creator.id,
        refused,
    )
    await payouts.create_due_payouts()
    [p] = (await client.get("/creator/payouts", headers=creator.headers)).json()["items"]
    assert p["status"] == "failed" and "cannot receive" in p["failure_reason"]
    earnings = (await client.get("/creator/earnings", headers=creator.headers)).json()
    assert earnings["available_cents"] == 64 and earnings["in_transit_cents"] == 0
    await assert_ledger_invariants()


async def test_payouts_need_payments_configured_and_a_signed_in_creator(client, register):
    creator = await register()
    assert_problem(await client.post("/creator/payout-account", headers=creator.headers), 503)
    assert_problem(await client.post("/creator/payout-account"), 401)
    assert (await client.get("/creator/payouts", headers=creator.headers)).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert_problem(
        await client.get("/creator/payouts", headers=creator.headers, params={"cursor": "zz"}),
        400,
        "cursor",
    )
