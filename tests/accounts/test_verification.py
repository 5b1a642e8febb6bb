"""Email verification: a mailed single-use link; starter credits only once it is followed,
and at most once per address. The mail travels over SMTP to an in-process aiosmtpd."""

from __future__ import annotations

import uuid

from hub.platform.db import fetch, fetchrow
from tests.billing.invariants import assert_ledger_invariants
from tests.conftest import unique
from tests.problems import assert_problem
from tests.runs.helpers import LiveRecorder, wallet


async def _balance(client, acct) -> int:
    return (await wallet(client, acct))["balance_cents"]


async def test_credits_arrive_only_with_the_verification_link(client, register, mailbox):
    acct = await register(verify=False)
    assert acct["user"]["email_verified"] is False
    assert await _balance(client, acct) == 0
    me = (await client.get("/me", headers=acct.headers)).json()
    assert me["email_verified"] is False

    mail = await mailbox.wait_for(acct["email"], "Confirm your email")
    assert mail.rcpt_tos == [acct["email"]]
    assert "BetterPrompt" in str(mail.message["From"])
    assert f"http://127.0.0.1:8000/#verify-email={mail.token('verify-email')}" in mail.text
    assert "48 hours" in mail.text

    with LiveRecorder() as rec:
        r = await client.post("/auth/verify-email", json={"token": mail.token("verify-email")})
        assert r.status_code == 200, r.text
        assert r.json()["email_verified"] is True and r.json()["id"] == acct.id
        await rec.wait_for(f"notifications#{acct.id}", "wallet.updated")
    assert rec.on(f"notifications#{acct.id}", "wallet.updated")[0]["balance_cents"] == 500
    assert await _balance(client, acct) == 500
    ledger = (await client.get("/me/ledger", headers=acct.headers)).json()["items"]
    assert [(e["kind"], e["amount_cents"]) for e in ledger] == [("starter_credits", 500)]

    # Single use: the same link again is refused and grants nothing more.
    again = await client.post("/auth/verify-email", json={"token": mail.token("verify-email")})
    assert assert_problem(again, 400, "token")["type"].endswith("/invalid-token")
    assert await _balance(client, acct) == 500
    assert_problem(await client.post("/auth/verify-email", json={"token": "forged"}), 400)
    await assert_ledger_invariants()


async def test_starter_credits_once_per_verified_address(client, register, mailbox):
    """Erasing an account frees its address, but not a second round of free credits."""
    first = await register(email=f"Twice.{unique()}@Example.com")
    assert await _balance(client, first) == 500
    assert (await client.delete("/me", headers=first.headers)).status_code == 204

    # The same address, spelled differently (case, full-width letters): one address.
    local = first["email"].split("@")[0].upper()
    second = await register(email=f"{local}@ＥＸＡＭＰＬＥ.com")
    assert second["user"]["email"] == first["email"].lower()
    assert second["user"]["email_verified"] is True
    assert await _balance(client, second) == 0
    assert (await client.get("/me/ledger", headers=second.headers)).json()["items"] == []
    await assert_ledger_invariants()


async def test_an_expired_link_is_refused(client, register, mailbox):
    acct = await register(verify=False)
    mail = await mailbox.wait_for(acct["email"], "Confirm your email")
    await fetch(
        "UPDATE email_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1",
        uuid.UUID(acct.id),
    )
    r = await client.post("/auth/verify-email", json={"token": mail.token("verify-email")})
    assert_problem(r, 400, "token")
    assert await _balance(client, acct) == 0


async def test_resend_supersedes_the_old_link_and_is_rate_limited(client, register, mailbox):
    acct = await register(verify=False)
    first = await mailbox.wait_for(acct["email"], "Confirm your email")
    r = await client.post("/auth/verify-email/resend", headers=acct.headers)
    assert r.status_code == 202, r.text
    assert r.json()["email"] == acct["email"]
    second = await mailbox.wait_for(acct["email"], "Confirm your email", count=2)
    assert second.token("verify-email") != first.token("verify-email")

    too_soon = await client.post("/auth/verify-email/resend", headers=acct.headers)
    assert_problem(too_soon, 429)
    assert 0 < int(too_soon.headers["Retry-After"]) <= 60
    assert len(mailbox.to(acct["email"])) == 2

    old = await client.post("/auth/verify-email", json={"token": first.token("verify-email")})
    assert_problem(old, 400)
    r = await client.post("/auth/verify-email", json={"token": second.token("verify-email")})
    assert r.status_code == 200, r.text
    assert await _balance(client, acct) == 500
    done = await client.post("/auth/verify-email/resend", headers=acct.headers)
    assert_problem(done, 409)
    assert_problem(await client.post("/auth/verify-email/resend"), 401)


async def test_demo_users_are_verified_with_their_credits(client):
    from hub.dev.demo import accounts as seed_accounts

    await seed_accounts.seed()
    await seed_accounts.seed()
    rows = await fetch(
        "SELECT u.email, u.email_verified_at, a.balance FROM users u "
        "JOIN ledger_accounts a ON a.user_id = u.id AND a.kind = 'wallet' "
        "WHERE u.email = ANY($1::text[])",
        [email for email, *_ in seed_accounts.DEMO_USERS],
    )
    assert len(rows) == len(seed_accounts.DEMO_USERS)
    assert all(r["email_verified_at"] is not None for r in rows)
    starter = await fetchrow(
        "SELECT count(*) AS n FROM ledger_transactions t JOIN users u "
        "ON t.ref = 'starter:' || u.id::text WHERE u.email = 'alice@example.com'"
    )
    assert starter is not None and starter["n"] == 1


async def test_export_shows_verification_and_mail_but_never_a_token(client, register, mailbox):
    acct = await register()
    mail = await mailbox.wait_for(acct["email"], "Confirm your email")
    data = (await client.get("/me/export", headers=acct.headers)).json()
    assert data["profile"]["email_verified_at"]
    assert [(m["kind"], bool(m["delivered_at"])) for m in data["mail"]] == [("verify_email", True)]
    assert mail.token("verify-email") not in str(data)
    assert (await client.delete("/me", headers=acct.headers)).status_code == 204
    rows = await fetch("SELECT 1 FROM mail_outbox WHERE user_id = $1", uuid.UUID(acct.id))
    assert rows == []
