"""GDPR: export everything about me; erase my personal data but keep money records."""

from __future__ import annotations

from tests.accounts.test_auth import assert_problem


async def test_export_contains_profile_sessions_and_domain_data(client, register):
    acct = await register(display_name="Export Me")
    await client.post("/rooms/lobby/messages", headers=acct.headers, json={"text": "my words"})
    r = await client.get("/me/export", headers=acct.headers)
    assert r.status_code == 200, r.text
    data = r.json()
    assert (
        data["profile"]["email"] == acct["email"] and data["profile"]["display_name"] == "Export Me"
    )
    assert len(data["sessions"]) == 1
    assert [m["text"] for m in data["rooms"]["messages"]] == ["my words"]
    assert "password" not in r.text and "password_hash" not in r.text
    assert_problem(await client.get("/me/export"), 401)


async def test_erasure_anonymises_and_ends_sessions(client, register):
    acct = await register()
    await client.post(
        "/rooms/lobby/messages", headers=acct.headers, json={"text": "personal detail"}
    )
    r = await client.delete("/me", headers=acct.headers)
    assert r.status_code == 204
    assert_problem(await client.get("/me", headers=acct.headers), 401)
    assert_problem(
        await client.post("/auth/refresh", json={"refresh_token": acct["refresh_token"]}), 401
    )
    assert_problem(
        await client.post(
            "/auth/login", json={"email": acct["email"], "password": acct["password"]}
        ),
        401,
    )
    lobby = (await client.get("/rooms/lobby/messages", params={"limit": 100})).json()
    assert "personal detail" not in str(lobby)
    # The email and handle are free again.
    again = await client.post(
        "/auth/register",
        json={"email": acct["email"], "password": "a new password", "handle": acct.handle},
    )
    assert again.status_code == 201, again.text
