"""Accounts: every rule of registration, login, refresh rotation, logout and profile."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from litestar.security.jwt import Token

from tests.conftest import unique
from tests.problems import PROBLEM, assert_problem  # noqa: F401 - re-exported


async def test_register_returns_user_and_tokens(client, register):
    acct = await register(display_name="Ada L.")
    assert acct["token_type"] == "bearer"
    assert acct["expires_in"] == 900
    assert acct["user"]["display_name"] == "Ada L."
    assert acct["user"]["roles"] == []
    assert "password" not in acct["user"] and "password_hash" not in str(acct["user"])


async def test_duplicate_email_in_different_case_is_409(client, register):
    acct = await register()
    r = await client.post(
        "/auth/register",
        json={
            "email": acct["email"].upper(),
            "password": "another password",
            "handle": unique("h"),
        },
    )
    body = assert_problem(r, 409)
    assert "email" in body["detail"].lower()


async def test_duplicate_handle_case_insensitive_is_409(client, register):
    acct = await register()
    r = await client.post(
        "/auth/register",
        json={
            "email": f"{unique()}@example.com",
            "password": "another password",
            "handle": acct.handle.upper(),
        },
    )
    assert "handle" in assert_problem(r, 409)["detail"].lower()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": "long enough pw", "handle": "okhandle"}, "email"),
        ({"email": "a@b.co", "password": "short", "handle": "okhandle"}, "password"),
        ({"email": "a@b.co", "password": "long enough pw", "handle": "no spaces!"}, "handle"),
        ({"email": "a@b.co", "password": "long enough pw", "handle": "x" * 31}, "handle"),
        ({"email": "a@b.co", "password": "p" * 129, "handle": "okhandle"}, "password"),
        (
            {"email": "a" * 250 + "@b.co", "password": "long enough pw", "handle": "okhandle"},
            "email",
        ),
        ({"email": 42, "password": "long enough pw", "handle": "okhandle"}, "email"),
        ({"password": "long enough pw", "handle": "okhandle"}, "email"),
        (
            {
                "email": "a@b.co",
                "password": "long enough pw",
                "handle": "okhandle",
                "is_admin": True,
            },
            "is_admin",
        ),
    ],
)
async def test_register_bad_input_names_the_field(client, body, field):
    assert_problem(await client.post("/auth/register", json=body), 400, field)


async def test_reserved_handle_is_refused(client):
    r = await client.post(
        "/auth/register",
        json={"email": f"{unique()}@e.co", "password": "long enough", "handle": "Admin"},
    )
    assert_problem(r, 409)


async def test_malformed_json_and_wrong_content(client):
    r = await client.post(
        "/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(r, 400)
    r = await client.post(
        "/auth/register", content=b"[1,2,3]", headers={"content-type": "application/json"}
    )
    assert_problem(r, 400)


async def test_oversized_body_is_rejected(client):
    r = await client.post(
        "/auth/register",
        content=b'{"email":"' + b"a" * (2 * 1024 * 1024) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413


async def test_login_success_and_wrong_password(client, register):
    acct = await register()
    ok = await client.post(
        "/auth/login", json={"email": acct["email"].upper(), "password": acct["password"]}
    )
    assert ok.status_code == 200 and ok.json()["user"]["id"] == acct.id
    bad = await client.post(
        "/auth/login", json={"email": acct["email"], "password": "wrong password"}
    )
    assert "incorrect" in assert_problem(bad, 401)["detail"]
    unknown = await client.post(
        "/auth/login", json={"email": f"{unique()}@nowhere.co", "password": "whatever1"}
    )
    assert_problem(unknown, 401)


async def test_login_throttled_per_account_with_clear_429(client, register):
    acct = await register()
    for _ in range(5):
        r = await client.post(
            "/auth/login", json={"email": acct["email"], "password": "wrong password"}
        )
        assert r.status_code == 401
    r = await client.post(
        "/auth/login", json={"email": acct["email"], "password": acct["password"]}
    )
    body = assert_problem(r, 429)
    assert int(r.headers["retry-after"]) > 0
    assert "try again" in body["detail"].lower()


async def test_login_throttled_per_ip(client, register, monkeypatch):
    from hub.accounts import service
    from hub.platform.settings import get_settings

    strict = msgspec.structs.replace(get_settings(), login_max_failures_per_ip=3)
    monkeypatch.setattr(service, "get_settings", lambda: strict)
    await service.get_redis().delete("hub:login:fail:ip:127.0.0.1")
    try:
        for _ in range(3):
            r = await client.post(
                "/auth/login", json={"email": f"{unique()}@x.co", "password": "wrong pw 123"}
            )
            assert r.status_code == 401
        r = await client.post(
            "/auth/login", json={"email": f"{unique()}@x.co", "password": "wrong pw 123"}
        )
        assert_problem(r, 429)
    finally:
        await service.get_redis().delete("hub:login:fail:ip:127.0.0.1")


async def test_me_requires_valid_token(client, register):
    assert_problem(await client.get("/me"), 401)
    assert_problem(await client.get("/me", headers={"Authorization": "Bearer garbage"}), 401)
    acct = await register()
    me = await client.get("/me", headers=acct.headers)
    assert me.status_code == 200
    assert me.json()["email"] == acct["email"]


async def test_forged_and_expired_tokens_are_rejected(client, register):
    from datetime import UTC, datetime, timedelta

    from hub.platform.settings import get_settings

    acct = await register()
    claims = Token.decode(acct.token, secret=get_settings().jwt_secret, algorithm="HS256")
    forged = Token(
        sub=claims.sub, exp=claims.exp, iss=claims.iss, jti="x", extras=claims.extras
    ).encode(secret="another-secret-that-is-long-enough-0000", algorithm="HS256")
    assert_problem(await client.get("/me", headers={"Authorization": f"Bearer {forged}"}), 401)
    import jwt

    expired = jwt.encode(
        {
            "sub": claims.sub,
            "exp": datetime.now(UTC) - timedelta(seconds=5),
            "iat": datetime.now(UTC) - timedelta(minutes=20),
            "iss": claims.iss,
            "jti": "y",
            **claims.extras,
        },
        get_settings().jwt_secret,
        algorithm="HS256",
    )
    assert_problem(await client.get("/me", headers={"Authorization": f"Bearer {expired}"}), 401)
    alg_none = acct.token.split(".")[0] + "." + acct.token.split(".")[1] + "."
    assert_problem(await client.get("/me", headers={"Authorization": f"Bearer {alg_none}"}), 401)


async def test_refresh_rotates_and_reuse_revokes_family(client, register):
    acct = await register()
    first = acct["refresh_token"]
    r = await client.post("/auth/refresh", json={"refresh_token": first})
    assert r.status_code == 200, r.text
    pair = r.json()
    assert pair["refresh_token"] != first
    # The new access token works.
    assert (
        await client.get("/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    ).status_code == 200
    # Reusing the used token fails and revokes the family: the newest refresh token dies too...
    assert_problem(await client.post("/auth/refresh", json={"refresh_token": first}), 401)
    assert_problem(
        await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401
    )
    # ...and so do the family's access tokens.
    assert_problem(
        await client.get("/me", headers={"Authorization": f"Bearer {pair['access_token']}"}), 401
    )
    # Another session (a separate login) is unaffected.
    other = await client.post(
        "/auth/login", json={"email": acct["email"], "password": acct["password"]}
    )
    assert (
        await client.get("/me", headers={"Authorization": f"Bearer {other.json()['access_token']}"})
    ).status_code == 200


async def test_concurrent_refresh_with_one_token_yields_one_pair(client, register):
    acct = await register()
    results = await asyncio.gather(
        *[
            client.post("/auth/refresh", json={"refresh_token": acct["refresh_token"]})
            for _ in range(5)
        ]
    )
    assert sorted(r.status_code for r in results).count(200) == 1


async def test_refresh_bad_input(client):
    assert_problem(await client.post("/auth/refresh", json={"refresh_token": "nope"}), 401)
    assert_problem(
        await client.post("/auth/refresh", json={"refresh_token": ""}), 400, "refresh_token"
    )
    assert_problem(await client.post("/auth/refresh", json={}), 400, "refresh_token")


async def test_logout_revokes_access_and_refresh(client, register):
    acct = await register()
    r = await client.post("/auth/logout", headers=acct.headers)
    assert r.status_code == 204
    assert_problem(await client.get("/me", headers=acct.headers), 401)
    assert_problem(
        await client.post("/auth/refresh", json={"refresh_token": acct["refresh_token"]}), 401
    )


async def test_logout_everywhere_revokes_every_session(client, register):
    acct = await register()
    other = (
        await client.post(
            "/auth/login", json={"email": acct["email"], "password": acct["password"]}
        )
    ).json()
    await asyncio.sleep(0.01)
    r = await client.post("/auth/logout", headers=acct.headers, json={"everywhere": True})
    assert r.status_code == 204
    assert_problem(
        await client.get("/me", headers={"Authorization": f"Bearer {other['access_token']}"}), 401
    )
    assert_problem(
        await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]}), 401
    )
    # Signing in again afterwards works.
    again = await client.post(
        "/auth/login", json={"email": acct["email"], "password": acct["password"]}
    )
    assert (
        await client.get("/me", headers={"Authorization": f"Bearer {again.json()['access_token']}"})
    ).status_code == 200


async def test_patch_me(client, register):
    acct = await register()
    r = await client.patch(
        "/me", headers=acct.headers, json={"display_name": "New Name", "bio": "<b>hi</b>"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["display_name"] == "New Name" and r.json()["bio"] == "<b>hi</b>"
    assert_problem(
        await client.patch("/me", headers=acct.headers, json={"bio": "x" * 2001}), 400, "bio"
    )
    assert_problem(
        await client.patch("/me", headers=acct.headers, json={"display_name": "   "}),
        400,
        "display_name",
    )
    assert_problem(
        await client.patch("/me", headers=acct.headers, json={"roles": ["admin"]}), 400, "roles"
    )
    other = await register()
    assert_problem(
        await client.patch("/me", headers=acct.headers, json={"handle": other.handle.upper()}), 409
    )
    new_handle = unique("renamed_")
    r = await client.patch("/me", headers=acct.headers, json={"handle": new_handle})
    assert r.json()["handle"] == new_handle


async def test_realtime_token_from_access_or_refresh(client, register):
    acct = await register()
    r = await client.post("/realtime/token", headers=acct.headers)
    assert r.status_code == 200 and r.json()["expires_in"] == 900
    r2 = await client.post("/realtime/token", json={"refresh_token": acct["refresh_token"]})
    assert r2.status_code == 200
    # The refresh token was not consumed.
    assert (
        await client.post("/auth/refresh", json={"refresh_token": acct["refresh_token"]})
    ).status_code == 200
    assert_problem(await client.post("/realtime/token"), 401)
    assert_problem(await client.post("/realtime/token", json={"refresh_token": "bogus"}), 401)


@pytest.mark.parametrize("bad", ["nul\\u0000inside@example.com", "surrogate\\udae6@example.com"])
async def test_unstorable_text_is_a_400_not_a_500(client, register, bad):
    """JSON may carry NUL and unpaired surrogates (as escapes); PostgreSQL text cannot."""
    json_headers = {"content-type": "application/json"}
    body = '{"email": "' + bad + '", "password": "whatever12"}'
    assert_problem(
        await client.post("/auth/login", content=body.encode(), headers=json_headers), 400
    )
    acct = await register()
    body = '{"bio": "' + bad + '"}'
    r = await client.patch("/me", content=body.encode(), headers={**acct.headers, **json_headers})
    assert_problem(r, 400)


async def test_password_change_ends_other_sessions_and_keeps_this_one(client, register):
    acct = await register()
    other = await client.post(
        "/auth/login", json={"email": acct["email"], "password": acct["password"]}
    )
    assert other.status_code == 200
    r = await client.post(
        "/me/password",
        headers=acct.headers,
        json={"current_password": "not it at all", "new_password": "a brand new secret"},
    )
    assert_problem(r, 403)
    assert r.json()["invalid_params"][0]["name"] == "current_password"
    r = await client.post(
        "/me/password",
        headers=acct.headers,
        json={"current_password": acct["password"], "new_password": "short"},
    )
    assert_problem(r, 400)
    r = await client.post(
        "/me/password",
        headers=acct.headers,
        json={"current_password": acct["password"], "new_password": "a brand new secret"},
    )
    assert r.status_code == 200, r.text
    pair = r.json()
    me = await client.get("/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200
    # Every earlier session is over: its access token and its refresh token.
    assert (await client.get("/me", headers=acct.headers)).status_code == 401
    old = await client.post("/auth/refresh", json={"refresh_token": other.json()["refresh_token"]})
    assert old.status_code == 401
    assert (
        await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    ).status_code == 200
    login = lambda pw: client.post("/auth/login", json={"email": acct["email"], "password": pw})  # noqa: E731
    assert (await login(acct["password"])).status_code == 401
    assert (await login("a brand new secret")).status_code == 200
