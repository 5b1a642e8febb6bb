"""Sign in with Google (OpenID Connect) and GitHub (OAuth2), both with PKCE, against a small
provider at the HTTP boundary: accounts created, signed in, linked only with proof; every
tampering refused."""

from __future__ import annotations

import secrets

from tests.conftest import unique
from tests.oauth.fixtures import authorize, finish
from tests.problems import assert_problem


def google_user(**over):
    handle = unique("g")
    user = {
        "sub": secrets.token_hex(8),
        "email": f"{handle}@example.com",
        "email_verified": True,
        "name": "Grace Hopper",
    }
    user.update(over)
    return user


def github_user(**over):
    login = unique("octo")
    user = {
        "id": secrets.randbelow(10**9),
        "login": login,
        "name": "Octo Cat",
        "emails": [
            {"email": f"{login}-old@example.com", "primary": False, "verified": True},
            {"email": f"{login}@example.com", "primary": True, "verified": True},
        ],
    }
    user.update(over)
    return user


async def test_only_configured_providers_are_offered(client, oauth_env):
    r = await client.get("/auth/oauth/providers")
    assert [p["name"] for p in r.json()["items"]] == ["github", "google"]


async def test_no_settings_no_provider(client, hub_server):
    assert (await client.get("/auth/oauth/providers")).json() == {"items": []}
    assert_problem(await client.post("/auth/oauth/google/start"), 404)
    r = await client.post("/auth/oauth/facebook/start")
    assert r.status_code in (400, 404)


async def test_google_first_sign_in_creates_a_verified_account_then_signs_in(client, oauth_env):
    user = google_user()
    oauth_env.sign_in_as(**user)
    flow = await authorize(client, "google")
    assert "code_challenge=" in flow["authorization_url"] and "nonce=" in flow["authorization_url"]
    r = await finish(client, "google", flow)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "signed_in" and body["created"] is True
    assert body["user"]["email"] == user["email"] and body["user"]["email_verified"] is True
    assert body["user"]["display_name"] == "Grace Hopper"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = (await client.get("/me", headers=headers)).json()
    assert me["id"] == body["user"]["id"]
    wallet = (await client.get("/me/wallet", headers=headers)).json()
    assert wallet["balance_cents"] == 500, "a verified address gets the starter credits"
    identities = (await client.get("/me/identities", headers=headers)).json()["items"]
    assert [(i["provider"], i["email"]) for i in identities] == [("google", user["email"])]

    oauth_env.sign_in_as(**user)
    again = await finish(client, "google", await authorize(client, "google"))
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["user"]["id"] == body["user"]["id"]
    # The refresh token works like any other.
    r = await client.post("/auth/refresh", json={"refresh_token": again.json()["refresh_token"]})
    assert r.status_code == 200


async def test_github_uses_the_verified_primary_address(client, oauth_env):
    user = github_user()
    oauth_env.sign_in_as(**user)
    r = await finish(client, "github", await authorize(client, "github"))
    assert r.status_code == 200, r.text
    assert r.json()["user"]["email"] == f"{user['login']}@example.com"
    assert r.json()["user"]["handle"].lower().startswith(user["login"][:20].lower())

    unverified = github_user(
        emails=[{"email": "x@example.com", "primary": True, "verified": False}]
    )
    oauth_env.sign_in_as(**unverified)
    r = await finish(client, "github", await authorize(client, "github"))
    assert_problem(r, 422)
    assert r.json()["invalid_params"][0]["name"] == "email"
    assert "no verified email" in r.json()["detail"]


async def test_state_is_single_use_and_tied_to_the_browser(client, oauth_env):
    oauth_env.sign_in_as(**google_user())
    flow = await authorize(client, "google")
    r = await finish(client, "google", flow, flow_secret="someone-elses-secret")
    assert_problem(r, 400)
    assert "started elsewhere" in r.json()["detail"]
    # The state is gone now, even for its rightful owner.
    r = await finish(client, "google", flow)
    assert_problem(r, 400)
    assert "expired or was already used" in r.json()["detail"]
    r = await finish(client, "google", flow, state="never-issued")
    assert_problem(r, 400)
    # A state from one provider is not accepted by the other.
    flow = await authorize(client, "google")
    assert_problem(await finish(client, "github", flow), 400)


async def test_a_replayed_code_is_refused(client, oauth_env):
    oauth_env.sign_in_as(**google_user())
    flow = await authorize(client, "google")
    assert (await finish(client, "google", flow)).status_code == 200
    second = await authorize(client, "google")
    r = await finish(client, "google", second, code=flow.code)
    assert_problem(r, 400)
    assert "refused this sign-in" in r.json()["detail"]


async def test_wrong_audience_nonce_or_key_is_refused_and_creates_nothing(client, oauth_env):
    from hub.platform.db import fetchrow

    for trick in ("audience", "nonce", "other_key"):
        user = google_user()
        oauth_env.sign_in_as(**user)
        if trick == "audience":
            oauth_env.audience = "another-client"
        elif trick == "nonce":
            oauth_env.nonce = "a-nonce-we-never-sent"
        else:
            oauth_env.other_key = True
        r = await finish(client, "google", await authorize(client, "google"))
        assert_problem(r, 400)
        assert await fetchrow("SELECT 1 FROM users WHERE email = $1", user["email"]) is None, trick


async def test_existing_address_is_linked_only_through_the_mailed_link(
    client, oauth_env, register, mailbox
):
    owner = await register()
    user = google_user(email=owner["email"])
    oauth_env.sign_in_as(**user)
    r = await finish(client, "google", await authorize(client, "google"))
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "confirmation_sent" and "access_token" not in body
    assert body["email"] == owner["email"]
    headers = owner.headers
    assert (await client.get("/me/identities", headers=headers)).json()["items"] == []

    mail = await mailbox.wait_for(owner["email"], "Link your Google sign-in")
    token = mail.token("link-identity")
    r = await client.post("/auth/oauth/link/confirm", json={"token": token})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "linked" and r.json()["user"]["id"] == owner.id
    assert_problem(await client.post("/auth/oauth/link/confirm", json={"token": token}), 400)

    oauth_env.sign_in_as(**user)
    r = await finish(client, "google", await authorize(client, "google"))
    assert r.status_code == 200 and r.json()["user"]["id"] == owner.id


async def test_signed_in_user_links_and_unlinks(client, oauth_env, register):
    me = await register()
    user = github_user()
    oauth_env.sign_in_as(**user)
    flow = await authorize(client, "github", headers=me.headers, link=True)
    r = await finish(client, "github", flow)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "linked" and r.json()["user"]["id"] == me.id
    # The same GitHub account cannot also be linked to someone else.
    other = await register()
    oauth_env.sign_in_as(**user)
    r = await finish(
        client, "github", await authorize(client, "github", headers=other.headers, link=True)
    )
    assert_problem(r, 409)
    # Linking needs a signed-in user.
    assert_problem(await client.post("/auth/oauth/github/start", json={"link": True}), 401)

    export = (await client.get("/me/export", headers=me.headers)).json()
    assert export["sign_in_providers"][0]["provider"] == "github"
    assert (await client.delete("/me/identities/github", headers=me.headers)).status_code == 204
    assert (await client.get("/me/identities", headers=me.headers)).json()["items"] == []
    assert_problem(await client.delete("/me/identities/github", headers=me.headers), 404)


async def test_the_only_way_in_cannot_be_unlinked(client, oauth_env):
    oauth_env.sign_in_as(**google_user())
    body = (await finish(client, "google", await authorize(client, "google"))).json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    r = await client.delete("/me/identities/google", headers=headers)
    assert_problem(r, 409)
    assert "set a password first" in r.json()["detail"]
    # And an account made this way has no password anyone could guess.
    for guess in ("!", "!" * 8, ""):
        r = await client.post(
            "/auth/login", json={"email": body["user"]["email"], "password": guess or "x" * 8}
        )
        assert r.status_code in (400, 401), r.text
