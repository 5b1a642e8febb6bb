"""Password reset by mailed link: single use, one hour, and every session ends."""

from __future__ import annotations

import uuid

from hub.platform.db import fetch
from tests.conftest import unique
from tests.problems import assert_problem

SUBJECT = "Reset your BetterPrompt Hub password"


async def _login(client, email: str, password: str):
    return await client.post("/auth/login", json={"email": email, "password": password})


async def test_reset_sets_a_new_password_and_ends_every_session(client, register, mailbox):
    acct = await register()
    other_device = (await _login(client, acct["email"], acct["password"])).json()

    r = await client.post("/auth/password-reset", json={"email": acct["email"].upper()})
    assert r.status_code == 202, r.text
    mail = await mailbox.wait_for(acct["email"], SUBJECT)
    token = mail.token("reset-password")
    assert "within 60 minutes" in mail.text

    new_password = "a brand new passphrase"
    r = await client.post(
        "/auth/password-reset/confirm", json={"token": token, "password": new_password}
    )
    assert r.status_code == 204, r.text

    # Every session is over: access tokens, refresh tokens, on every device.
    assert_problem(await client.get("/me", headers=acct.headers), 401)
    other_headers = {"Authorization": f"Bearer {other_device['access_token']}"}
    assert_problem(await client.get("/me", headers=other_headers), 401)
    for refresh in (acct["refresh_token"], other_device["refresh_token"]):
        assert_problem(await client.post("/auth/refresh", json={"refresh_token": refresh}), 401)
    assert_problem(await _login(client, acct["email"], acct["password"]), 401)
    assert (await _login(client, acct["email"], new_password)).status_code == 200

    # Single use.
    again = await client.post(
        "/auth/password-reset/confirm", json={"token": token, "password": "yet another one"}
    )
    assert assert_problem(again, 400, "token")["type"].endswith("/invalid-token")
    assert (await _login(client, acct["email"], new_password)).status_code == 200


async def test_unknown_address_gets_the_same_answer_and_no_mail(client, mailbox):
    address = f"{unique('nobody_')}@example.com"
    r = await client.post("/auth/password-reset", json={"email": address})
    assert r.status_code == 202
    assert "If an account uses this address" in r.json()["detail"]
    # A known address answers the same; only the mail tells them apart.
    assert mailbox.to(address) == []


async def test_reset_links_expire_after_an_hour_and_requests_are_throttled(
    client, register, mailbox
):
    acct = await register()
    assert (
        await client.post("/auth/password-reset", json={"email": acct["email"]})
    ).status_code == 202
    mail = await mailbox.wait_for(acct["email"], SUBJECT)
    too_soon = await client.post("/auth/password-reset", json={"email": acct["email"]})
    assert_problem(too_soon, 429)
    assert int(too_soon.headers["Retry-After"]) >= 1

    await fetch(
        "UPDATE email_tokens SET expires_at = now() - interval '1 second' "
        "WHERE user_id = $1 AND purpose = 'password_reset'",
        uuid.UUID(acct.id),
    )
    r = await client.post(
        "/auth/password-reset/confirm",
        json={"token": mail.token("reset-password"), "password": "too late for this"},
    )
    assert_problem(r, 400, "token")
    assert (await _login(client, acct["email"], acct["password"])).status_code == 200
    short = await client.post(
        "/auth/password-reset/confirm",
        json={"token": mail.token("reset-password"), "password": "x"},
    )
    assert_problem(short, 400, "password")


async def test_a_reset_unlocks_a_throttled_account(client, register, mailbox):
    acct = await register()
    for _ in range(5):
        await _login(client, acct["email"], "wrong password!")
    assert_problem(await _login(client, acct["email"], acct["password"]), 429)
    await client.post("/auth/password-reset", json={"email": acct["email"]})
    mail = await mailbox.wait_for(acct["email"], SUBJECT)
    r = await client.post(
        "/auth/password-reset/confirm",
        json={"token": mail.token("reset-password"), "password": "fresh start 2026"},
    )
    assert r.status_code == 204
    assert (await _login(client, acct["email"], "fresh start 2026")).status_code == 200
