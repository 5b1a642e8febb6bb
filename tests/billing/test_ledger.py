"""The ledger's own guarantees, enforced by the database, and the wallet/ledger endpoints."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from hub.billing import ledger, wallets
from hub.platform.db import fetch, transaction
from tests.billing.invariants import assert_ledger_invariants


async def _wallet_id(user_id: str) -> int:
    """The promotional wallet: where the starter credits are."""
    return (await ledger.user_accounts(user_id, ["promo_wallet"]))["promo_wallet"]


async def test_new_account_gets_starter_credits_as_a_ledger_transaction(client, register):
    acct = await register()
    r = await client.get("/me/wallet", headers=acct.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "balance_cents": 500,
        "held_cents": 0,
        "currency": "USD",
        "spending_limit_cents": 5000,
        "spent_today_cents": 0,
        "promo_balance_cents": 500,
    }
    r = await client.get("/me/ledger", headers=acct.headers)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["next_cursor"] is None
    [entry] = page["items"]
    assert entry["kind"] == "starter_credits" and entry["account"] == "promo_wallet"
    assert entry["amount_cents"] == 500 and entry["balance_after_cents"] == 500
    await assert_ledger_invariants()


async def test_ledger_pages_carry_balance_after(client, register):
    acct = await register()
    for i in range(3):
        await wallets.grant_credits(acct.id, 10 + i, ref=f"test:{acct.id}:{i}")
    seen = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/me/ledger", params=params, headers=acct.headers)
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert [e["balance_after_cents"] for e in seen] == [533, 521, 510, 500]
    r = await client.get("/me/ledger", params={"cursor": "garbage!"}, headers=acct.headers)
    assert r.status_code == 400 and "cursor" in r.text


async def test_wallet_requires_sign_in(client):
    r = await client.get("/me/wallet")
    assert r.status_code == 401


async def test_database_refuses_an_unbalanced_transaction(register, hub_env):
    acct = await register()
    wallet = await _wallet_id(acct.id)
    conn = await asyncpg.connect(hub_env["DATABASE_URL"])
    try:
        with pytest.raises(asyncpg.exceptions.CheckViolationError, match="unbalanced"):
            async with conn.transaction():
                tx = await conn.fetchval(
                    "INSERT INTO ledger_transactions (kind, ref) VALUES ('adjustment', $1) "
                    "RETURNING id",
                    f"test:{uuid.uuid4()}",
                )
                await conn.execute(
                    "INSERT INTO ledger_entries (transaction_id, account_id, amount) "
                    "VALUES ($1, $2, 7)",
                    tx,
                    wallet,
                )
        with pytest.raises(ledger.LedgerError, match="unbalanced"):
            async with transaction():
                await ledger.post("adjustment", f"test:{uuid.uuid4()}", [(wallet, 7), (wallet, 1)])
    finally:
        await conn.close()
    assert (await wallets.wallet(acct.id)).balance_cents == 500


async def test_database_refuses_a_negative_wallet(register):
    acct = await register()
    promotions = await ledger.platform_account("promotions")
    with pytest.raises(ledger.InsufficientFunds):
        async with transaction():
            await ledger.post(
                "adjustment",
                f"test:{uuid.uuid4()}",
                [(await _wallet_id(acct.id), -501), (promotions, 501)],
            )
    assert (await wallets.wallet(acct.id)).balance_cents == 500


async def test_history_is_append_only_and_balances_move_only_through_entries(register):
    acct = await register()
    wallet = await _wallet_id(acct.id)
    with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
        await fetch("UPDATE ledger_entries SET amount = amount + 1 WHERE account_id = $1", wallet)
    with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
        await fetch("DELETE FROM ledger_entries WHERE account_id = $1", wallet)
    with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
        await fetch("UPDATE ledger_accounts SET balance = 1000000 WHERE id = $1", wallet)
    with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
        await fetch(
            "UPDATE ledger_transactions SET memo = 'x' WHERE ref = $1", f"starter:{acct.id}"
        )
    await assert_ledger_invariants()


async def test_a_ref_is_posted_at_most_once(register):
    acct = await register()
    ref = f"test:{uuid.uuid4()}"
    await wallets.grant_credits(acct.id, 5, ref=ref)
    with pytest.raises(ledger.AlreadyPosted):
        await wallets.grant_credits(acct.id, 5, ref=ref)
    assert (await wallets.wallet(acct.id)).balance_cents == 505
    await assert_ledger_invariants()


async def test_creator_endpoints_start_empty(client, register):
    acct = await register()
    r = await client.get("/creator/earnings", headers=acct.headers)
    assert r.status_code == 200, r.text
    assert r.json()["pending_cents"] == 0 and r.json()["lifetime_cents"] == 0
    r = await client.get("/creator/sales", headers=acct.headers)
    assert r.json() == {"items": [], "next_cursor": None}
