"""Expired connection tokens through the hub's real authenticator, with both official SDKs.

An expired token must get error 109 "token expired" (the SDK fetches a new token through its
get-token callback and reconnects), never close 3500 (the SDK stops for good): a phone offline
longer than the token's life must come back by itself and recover what it missed.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from centrifuge import Client, ClientState

from hub import live
from hub.platform import auth
from realtime import metrics
from tests.hub_realtime.conftest import NodeScenario, login, needs_node, run_js
from tests.realtime.sdk_helpers import ClientEvents, Recorder


def _expired_replies() -> float:
    return metrics.COMMANDS.labels("connect", "109")._value.get()


async def _wait(predicate, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def _token_fetcher(client, refresh_token: str, calls: list[str]):
    async def get_token() -> str:
        r = await client.post("/realtime/token", json={"refresh_token": refresh_token})
        assert r.status_code == 200, r.text
        calls.append(r.json()["token"])
        return r.json()["token"]

    return get_token


def _notification(user_id: str, n: int) -> tuple[str, dict]:
    return f"notifications#{user_id}", {"type": "notification.created", "id": str(n)}


async def test_python_sdk_with_a_stale_token_fetches_a_new_one_and_connects(
    client, register, ws_url
):
    user = await register()
    session = await login(client, user)
    stale, _ = auth.issue_realtime_token(user.id, str(uuid.uuid4()), ttl_seconds=-60)
    calls: list[str] = []
    events = ClientEvents()
    c = Client(
        ws_url,
        token=stale,
        get_token=_token_fetcher(client, session["refresh_token"], calls),
        events=events,
        proxy=None,
    )
    before = _expired_replies()
    await c.connect()
    try:
        await _wait(lambda: c.state == ClientState.CONNECTED)
        assert len(calls) == 1 and _expired_replies() == before + 1
        assert not events.disconnects  # never told to stop (3500)
        rec = Recorder()
        sub = c.new_subscription(f"notifications#{user.id}", rec)
        await sub.subscribe()
        await sub.ready(5)
        await live.publish(*_notification(user.id, 1))
        await rec.wait_for(lambda: rec.data() == [{"type": "notification.created", "id": "1"}])
    finally:
        await c.disconnect()


async def test_python_sdk_offline_longer_than_the_token_life_comes_back_and_recovers(
    client, register, proxy
):
    user = await register()
    session = await login(client, user)
    token, ttl = auth.issue_realtime_token(user.id, str(uuid.uuid4()), ttl_seconds=3)
    expires_at = time.time() + ttl
    calls: list[str] = []
    events = ClientEvents()
    c = Client(
        proxy.ws_url,
        token=token,
        get_token=_token_fetcher(client, session["refresh_token"], calls),
        events=events,
        proxy=None,
        min_reconnect_delay=0.05,
        max_reconnect_delay=0.5,
    )
    await c.connect()
    rec = Recorder()
    sub = c.new_subscription(f"notifications#{user.id}", rec)
    await sub.subscribe()
    try:
        await sub.ready(5)
        await live.publish(*_notification(user.id, 1))
        await rec.wait_for(lambda: len(rec.pubs) == 1)

        await proxy.cut()  # the network is gone; the SDK keeps trying to reconnect
        await _wait(lambda: c.state == ClientState.CONNECTING)
        await live.publish(*_notification(user.id, 2))  # missed while offline
        await _wait(lambda: time.time() > expires_at + 1)  # offline past the token's life
        before = _expired_replies()
        await proxy.start()  # the network is back

        await _wait(lambda: c.state == ClientState.CONNECTED and len(rec.subscribed) == 2)
        assert _expired_replies() > before  # the stale token was refused with 109...
        assert calls  # ...and the SDK fetched a fresh one, as the protocol intends
        assert all(d.code != 3500 for d in events.disconnects)
        assert rec.subscribed[1].was_recovering and rec.subscribed[1].recovered
        assert [d["id"] for d in rec.data()] == ["1", "2"]
    finally:
        await c.disconnect()


@needs_node
async def test_centrifuge_js_with_a_stale_token_and_after_a_long_offline(
    client, register, ws_url, proxy
):
    user = await register()
    session = await login(client, user)
    channel = f"notifications#{user.id}"
    api = ws_url.replace("ws://", "http://").replace("/connection/websocket", "/api/v1")
    for fmt in ("json", "protobuf"):
        stale, _ = auth.issue_realtime_token(user.id, str(uuid.uuid4()), ttl_seconds=-60)
        before = _expired_replies()
        args = {"url": ws_url, "api": api, "refresh": session["refresh_token"], "token": stale}
        result = await run_js("stale_token", {**args, "channel": channel, "format": fmt})
        assert result["tokenCalls"] == 1 and result["connected"] == 1
        assert result["disconnectCodes"] == []
        assert _expired_replies() == before + 1

    # Offline (the network cut) past the token's life: the SDK comes back with a new token.
    short, ttl = auth.issue_realtime_token(user.id, str(uuid.uuid4()), ttl_seconds=3)
    expires_at = time.time() + ttl
    node = await NodeScenario.start(
        "offline",
        {
            "url": proxy.ws_url,
            "api": api,
            "refresh": session["refresh_token"],
            "token": short,
            "channel": channel,
            "format": "json",
        },
    )
    try:
        await node.expect("subscribed")
        await live.publish(*_notification(user.id, 1))
        await node.expect("publication")
        await proxy.cut()
        await node.expect("offline")
        await live.publish(*_notification(user.id, 2))
        await _wait(lambda: time.time() > expires_at + 1)
        before = _expired_replies()
        await proxy.start()
        result = await node.result()
    finally:
        node.kill()
    assert _expired_replies() > before
    assert result["tokenCalls"] >= 1
    assert 3500 not in result["disconnectCodes"]
    assert result["subscribed"][1] == {"wasRecovering": True, "recovered": True}
    assert [p["id"] for p in result["pubs"]] == ["1", "2"]
