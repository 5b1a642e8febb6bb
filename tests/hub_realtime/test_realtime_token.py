"""POST /realtime/token mints a websocket-only token; roles come from the database."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from hub.platform.db import fetch
from hub.platform.settings import get_settings
from tests.conftest import unique
from tests.hub_realtime.conftest import login
from tests.realtime.sdk_helpers import Recorder, make_client


async def _realtime_token(client, headers=None, json=None):
    return await client.post("/realtime/token", headers=headers or {}, json=json)


async def test_realtime_token_is_refused_by_rest_and_cannot_mint_another(client, register):
    user = await register()
    r = await _realtime_token(client, headers=user.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["expires_in"] == get_settings().realtime_token_ttl_seconds == 900
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["typ"] == "realtime" and "roles" not in claims
    assert claims["exp"] - time.time() == pytest.approx(900, abs=5)
    bearer = {"Authorization": f"Bearer {body['token']}"}
    # REST refuses it everywhere: on protected routes and where a token is optional.
    assert (await client.get("/me", headers=bearer)).status_code == 401
    assert (await client.get(f"/prompts/{uuid.uuid4()}", headers=bearer)).status_code == 401
    # ...and it cannot be traded for a new token (so a stale role cannot be re-minted forever).
    assert (await _realtime_token(client, headers=bearer)).status_code == 401
    # The refresh-token way gives the same kind of token, not an access token.
    session = await login(client, user)
    r = await _realtime_token(client, json={"refresh_token": session["refresh_token"]})
    assert r.status_code == 200
    token = r.json()["token"]
    assert jwt.decode(token, options={"verify_signature": False})["typ"] == "realtime"
    assert (
        await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 401


async def test_demoted_moderator_loses_the_role_on_the_websocket(client, register, ws_url):
    owner, mod = await register(), await register()
    slug = unique("mod-")
    r = await client.post(
        "/rooms", headers=owner.headers, json={"slug": slug, "title": "P", "visibility": "private"}
    )
    assert r.status_code == 201
    await fetch("UPDATE users SET roles = '{moderator}' WHERE id = $1::uuid", mod.id)
    mod_session = await login(client, mod)  # an access token that says "moderator"
    mod_headers = {"Authorization": f"Bearer {mod_session['access_token']}"}

    async def subscribe_private() -> Recorder:
        token = (await _realtime_token(client, headers=mod_headers)).json()["token"]
        c = make_client(ws_url, token=token)
        await c.connect()
        rec = Recorder()
        sub = c.new_subscription(f"rooms:{slug}", rec)
        await sub.subscribe()
        await rec.wait_for(lambda: rec.subscribed or rec.unsubscribed or rec.errors)
        await c.disconnect()
        return rec

    assert (await subscribe_private()).subscribed  # a moderator reads private rooms
    await fetch("UPDATE users SET roles = '{}' WHERE id = $1::uuid", mod.id)
    # The access token still claims the role for its remaining minutes, but every realtime
    # token minted from it is checked against the database on connect.
    rec = await subscribe_private()
    assert not rec.subscribed and rec.unsubscribed and rec.unsubscribed[0].code == 103


async def test_erased_account_cannot_connect(client, register, ws_url):
    user = await register()
    token = (await _realtime_token(client, headers=user.headers)).json()["token"]
    assert (await client.delete("/me", headers=user.headers)).status_code == 204
    c = make_client(ws_url, token=token)
    await c.connect()
    events = c.test_events  # type: ignore[attr-defined]
    try:
        await events.wait_for(lambda: any(d.code == 3500 for d in events.disconnects))
    finally:
        await c.disconnect()
