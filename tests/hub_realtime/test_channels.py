"""The hub's channel policy over the real websocket, with the official centrifuge-python SDK."""

from __future__ import annotations

import uuid

import pytest
from centrifuge import SubscriptionState
from centrifuge.exceptions import ReplyError

from tests.conftest import unique
from tests.realtime.sdk_helpers import Recorder, make_client


async def _subscribe(client, channel: str, **kw):
    rec = Recorder()
    sub = client.new_subscription(channel, rec, **kw)
    await sub.subscribe()
    return sub, rec


async def _subscribe_error(client, channel: str) -> int:
    rec = Recorder()
    sub = client.new_subscription(channel, rec)
    await sub.subscribe()
    await rec.wait_for(lambda: rec.errors or rec.unsubscribed or rec.subscribed)
    if rec.unsubscribed:
        return rec.unsubscribed[0].code
    if rec.errors:
        return rec.errors[0].code
    return 0


async def test_room_chat_publish_is_persisted_and_fanned_out_with_presence(
    client, register, ws_url
):
    alice, bob = await register(), await register()
    slug = unique("chat-")
    await client.post("/rooms", headers=alice.headers, json={"slug": slug, "title": "Chat"})
    ca = make_client(ws_url, token=alice.token)
    cb = make_client(ws_url, token=bob.token)
    await ca.connect()
    await cb.connect()
    try:
        sub_a, rec_a = await _subscribe(ca, f"rooms:{slug}", join_leave=True)
        await sub_a.ready(5)
        sub_b, _ = await _subscribe(cb, f"rooms:{slug}")
        await sub_b.ready(5)
        await rec_a.wait_for(lambda: len(rec_a.joins) >= 1)
        presence = await sub_a.presence()
        assert {info.user for info in presence.clients.values()} == {alice.id, bob.id}
        await sub_b.publish({"text": "hello <b>room</b>"})
        await rec_a.wait_for(lambda: len(rec_a.pubs) >= 1)
        event = rec_a.data()[0]
        assert event["type"] == "room.message" and event["text"] == "hello <b>room</b>"
        assert event["author"]["handle"] == bob.handle
        # Persisted: the REST history has it, and REST posts reach the channel too.
        history = (await client.get(f"/rooms/{slug}/messages")).json()["items"]
        assert history[0]["id"] == event["id"]
        await client.post(
            f"/rooms/{slug}/messages", headers=alice.headers, json={"text": "via REST"}
        )
        await rec_a.wait_for(lambda: len(rec_a.pubs) >= 2)
        assert rec_a.data()[1]["text"] == "via REST"
        # Bad publications get protocol errors and change nothing.
        with pytest.raises(ReplyError) as err:
            await sub_b.publish({"text": ""})
        assert err.value.code == 107
        with pytest.raises(ReplyError) as err:
            await sub_b.publish({"html": "<script>"})
        assert err.value.code == 107
    finally:
        await ca.disconnect()
        await cb.disconnect()


async def test_banned_user_subscribe_and_publish_get_103(client, register, ws_url):
    owner, troll = await register(), await register()
    slug = unique("ban-")
    await client.post("/rooms", headers=owner.headers, json={"slug": slug, "title": "Bans"})
    await client.post(
        f"/rooms/{slug}/bans", headers=owner.headers, json={"handle": troll.handle, "minutes": 5}
    )
    c = make_client(ws_url, token=troll.token)
    await c.connect()
    try:
        assert await _subscribe_error(c, f"rooms:{slug}") == 103
        with pytest.raises(ReplyError) as err:
            await c.publish(f"rooms:{slug}", {"text": "spam"})
        assert err.value.code == 103
    finally:
        await c.disconnect()


async def test_anonymous_reads_public_channels_only(register, ws_url):
    user = await register()
    anon = make_client(ws_url)
    await anon.connect()
    try:
        sub, _ = await _subscribe(anon, "rooms:lobby")
        await sub.ready(5)
        with pytest.raises(ReplyError) as err:
            await sub.publish({"text": "hi"})
        assert err.value.code == 103
        assert await _subscribe_error(anon, f"notifications#{user.id}") == 103
        live, _ = await _subscribe(anon, "live:runs")
        await live.ready(5)
    finally:
        await anon.disconnect()


async def test_user_channels_and_unknown_namespaces(register, ws_url):
    me, other = await register(), await register()
    c = make_client(ws_url, token=me.token)
    await c.connect()
    try:
        for ns in ("notifications", "feed", "sales"):
            sub, _ = await _subscribe(c, f"{ns}#{me.id}")
            await sub.ready(5)
            assert sub.state == SubscriptionState.SUBSCRIBED
            assert await _subscribe_error(c, f"{ns}#{other.id}") == 103
        assert await _subscribe_error(c, "nosuch:thing") == 102
        assert await _subscribe_error(c, "live:other") == 102
        assert await _subscribe_error(c, "notifications:x") == 102
        assert await _subscribe_error(c, "runs:not-a-run") == 102  # not a canonical run id
        assert await _subscribe_error(c, f"runs:{uuid.uuid4()}") == 103  # no such run
    finally:
        await c.disconnect()


async def test_private_room_channel_needs_membership(client, register, ws_url):
    owner, outsider = await register(), await register()
    slug = unique("priv-")
    await client.post(
        "/rooms", headers=owner.headers, json={"slug": slug, "title": "P", "visibility": "private"}
    )
    c = make_client(ws_url, token=outsider.token)
    await c.connect()
    try:
        assert await _subscribe_error(c, f"rooms:{slug}") == 103
    finally:
        await c.disconnect()


async def test_logout_force_disconnects_realtime(client, register, ws_url):
    user = await register()
    phone = (
        await client.post(
            "/auth/login", json={"email": user["email"], "password": user["password"]}
        )
    ).json()
    c = make_client(ws_url, token=user.token)
    other = make_client(ws_url, token=phone["access_token"])
    await c.connect()
    await other.connect()
    events = c.test_events  # type: ignore[attr-defined]
    other_events = other.test_events  # type: ignore[attr-defined]
    try:
        r = await client.post("/auth/logout", headers=user.headers)
        assert r.status_code == 204
        # The server closes the connection; the SDK's reconnect with the revoked token is refused
        # with "invalid token" (3500), which stops it for good.
        await events.wait_for(lambda: any(d.code == 3500 for d in events.disconnects), within=10)
        assert c.state.name == "DISCONNECTED"
        # The user's other session (another device) reconnects with its still-valid token.
        await other_events.wait_for(lambda: len(other_events.connected) >= 2, within=10)
        assert other.state.name == "CONNECTED"
    finally:
        await c.disconnect()
        await other.disconnect()
