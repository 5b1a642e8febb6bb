"""Access that follows every change, on the websocket: removal from a private room, bans and
account erasure end live subscriptions at once (server-side unsubscribe with a documented code);
presence and history ask the policy every time; deleted messages leave the Redis history;
channel names are canonical; bad input is a protocol error without a traceback."""

from __future__ import annotations

import logging

import pytest
from centrifuge import ReplyError, SubscriptionState

from hub import live
from hub.platform.db import fetch
from realtime import UnknownChannel
from tests.conftest import unique
from tests.realtime.sdk_helpers import RawClient, Recorder, make_client


async def _room(client, owner, visibility: str = "public") -> str:
    slug = unique("acc-")
    r = await client.post(
        "/rooms", headers=owner.headers, json={"slug": slug, "title": "T", "visibility": visibility}
    )
    assert r.status_code == 201, r.text
    return slug


async def _connect(ws_url: str, account):
    c = make_client(ws_url, token=account.token)
    await c.connect()
    return c


async def _subscribe(c, channel: str, **kw):
    rec = Recorder()
    sub = c.new_subscription(channel, rec, **kw)
    await sub.subscribe()
    await rec.wait_for(lambda: rec.subscribed or rec.unsubscribed or rec.errors)
    return sub, rec


async def test_removed_member_of_a_private_room_is_unsubscribed_at_once(client, register, ws_url):
    owner, member = await register(), await register()
    slug = await _room(client, owner, "private")
    channel = f"rooms:{slug}"
    r = await client.post(
        f"/rooms/{slug}/members", headers=owner.headers, json={"handle": member.handle}
    )
    assert r.status_code in (200, 201, 204), r.text
    co, cm = await _connect(ws_url, owner), await _connect(ws_url, member)
    try:
        _, rec_o = await _subscribe(co, channel, join_leave=True)
        sub_m, rec_m = await _subscribe(cm, channel)
        assert rec_m.subscribed
        await rec_o.wait_for(lambda: any(j.user == member.id for j in rec_o.joins))

        r = await client.delete(f"/rooms/{slug}/members/{member.handle}", headers=owner.headers)
        assert r.status_code == 204, r.text
        await rec_m.wait_for(lambda: rec_m.unsubscribed)
        assert (rec_m.unsubscribed[0].code, rec_m.unsubscribed[0].reason) == (
            2100,
            "access revoked",
        )
        assert sub_m.state == SubscriptionState.UNSUBSCRIBED  # the SDK does not come back
        # The others see them leave; presence no longer lists them.
        await rec_o.wait_for(lambda: any(lv.user == member.id for lv in rec_o.leaves))
        presence = await co.presence(channel)
        assert {i.user for i in presence.clients.values()} == {owner.id}
        # Nothing of the room is readable for them any more.
        for call in (cm.history(channel, limit=10), cm.presence(channel)):
            with pytest.raises(ReplyError) as err:
                await call
            assert err.value.code == 103
        await sub_m.subscribe()  # and subscribing again is refused
        await rec_m.wait_for(lambda: len(rec_m.unsubscribed) == 2)
        assert rec_m.unsubscribed[1].code == 103 and len(rec_m.subscribed) == 1
    finally:
        await co.disconnect()
        await cm.disconnect()


async def test_banned_user_leaves_the_room_channel_and_cannot_come_back(client, register, ws_url):
    owner, troll, other = await register(), await register(), await register()
    slug = await _room(client, owner)
    channel = f"rooms:{slug}"
    ct, co = await _connect(ws_url, troll), await _connect(ws_url, other)
    try:
        _, rec_o = await _subscribe(co, channel, join_leave=True)
        sub_t, rec_t = await _subscribe(ct, channel)
        await rec_o.wait_for(lambda: any(j.user == troll.id for j in rec_o.joins))
        r = await client.post(
            f"/rooms/{slug}/bans",
            headers=owner.headers,
            json={"handle": troll.handle, "minutes": 5},
        )
        assert r.status_code == 201, r.text
        await rec_t.wait_for(lambda: rec_t.unsubscribed)
        assert rec_t.unsubscribed[0].code == 2101
        assert sub_t.state == SubscriptionState.UNSUBSCRIBED
        await rec_o.wait_for(lambda: any(lv.user == troll.id for lv in rec_o.leaves))
        # Subscribing again is refused while the ban lasts.
        await sub_t.subscribe()
        await rec_t.wait_for(lambda: len(rec_t.unsubscribed) == 2)
        assert rec_t.unsubscribed[1].code == 103 and len(rec_t.subscribed) == 1
    finally:
        await ct.disconnect()
        await co.disconnect()


async def test_presence_and_history_ask_the_policy_every_time(client, register, ws_url):
    owner, member = await register(), await register()
    slug = await _room(client, owner, "private")
    channel = f"rooms:{slug}"
    await client.post(
        f"/rooms/{slug}/members", headers=owner.headers, json={"handle": member.handle}
    )
    cm = await _connect(ws_url, member)
    try:
        sub, rec = await _subscribe(cm, channel)
        assert rec.subscribed
        assert (await sub.presence()).clients
        # Membership withdrawn behind the service's back (no unsubscribe push): the
        # subscription lingers, but presence and history are refused from now on.
        await fetch(
            "DELETE FROM room_members WHERE user_id = $1::uuid AND room_id = "
            "(SELECT id FROM rooms WHERE slug = $2)",
            member.id,
            slug,
        )
        for call in (sub.presence(), sub.history(limit=10), sub.presence_stats()):
            with pytest.raises(ReplyError) as err:
                await call
            assert err.value.code == 103
    finally:
        await cm.disconnect()


async def test_moderation_delete_and_erasure_remove_messages_from_redis_history(
    client, register, ws_url
):
    owner, author, other = await register(), await register(), await register()
    slug = await _room(client, owner)
    channel = f"rooms:{slug}"
    reader = await _connect(ws_url, owner)
    offline = await _connect(ws_url, other)
    try:
        _, rec = await _subscribe(offline, channel)
        await offline.disconnect()  # away while the messages come and one goes
        posted = {}
        for who, text in ((author, "a1"), (other, "o1"), (author, "a2"), (other, "o2")):
            r = await client.post(
                f"/rooms/{slug}/messages", headers=who.headers, json={"text": text}
            )
            assert r.status_code == 201, r.text
            posted[text] = r.json()["id"]

        async def texts() -> list[str]:
            res = await reader.history(channel, limit=-1)
            return [p.data["text"] for p in res.publications if p.data["type"] == "room.message"]

        assert await texts() == ["a1", "o1", "a2", "o2"]
        r = await client.delete(f"/rooms/{slug}/messages/{posted['o1']}", headers=owner.headers)
        assert r.status_code == 204, r.text
        assert await texts() == ["a1", "a2", "o2"]
        # Recovering across the hole is refused (the SDK reloads from REST): the deleted
        # message is never replayed, and nothing pretends to be the full sequence.
        await offline.connect()
        await rec.wait_for(lambda: len(rec.subscribed) == 2)
        assert rec.subscribed[1].was_recovering and not rec.subscribed[1].recovered
        assert all(d.get("id") != posted["o1"] for d in rec.data())

        assert (await client.delete("/me", headers=author.headers)).status_code == 204
        assert await texts() == ["o2"]
    finally:
        await reader.disconnect()
        await offline.disconnect()


async def test_channel_names_are_canonical(register, ws_url):
    user = await register()
    c = await _connect(ws_url, user)
    try:
        for channel in (
            "rooms:LOBBY",
            "rooms:Lobby",
            f"notifications#{user.id.upper()}",
            "prompts:not-a-uuid",
            "runs:" + "A" * 8 + "-0000-0000-0000-" + "0" * 12,
        ):
            _, rec = await _subscribe(c, channel)
            assert not rec.subscribed and rec.unsubscribed[0].code == 102, channel
        with pytest.raises(ReplyError) as err:
            await c.publish("rooms:LOBBY", {"text": "hello"})
        assert err.value.code == 102
        with pytest.raises(UnknownChannel):
            await live.publish("rooms:LOBBY", {"type": "room.message"})
        # The canonical name works.
        _, rec = await _subscribe(c, "rooms:lobby")
        assert rec.subscribed
    finally:
        await c.disconnect()


@pytest.mark.parametrize("protobuf", [False, True], ids=["json", "protobuf"])
async def test_deeply_nested_json_is_a_protocol_error_without_a_traceback(
    register, ws_url, caplog, protobuf
):
    user = await register()
    depth = 3500
    nested = "[" * depth + "]" * depth
    caplog.set_level(logging.WARNING)
    raw = await RawClient.open(ws_url, protobuf=protobuf)
    try:
        if protobuf:
            from realtime.protocol import client_pb2 as pb
            from realtime.protocol.codec import varint

            def frame(**kw) -> bytes:
                body = pb.Command(**kw).SerializeToString()
                return varint(len(body)) + body

            await raw.send_raw(frame(id=1, connect=pb.ConnectRequest(token=user.token)))
            await raw.ws.recv()
            await raw.send_raw(
                frame(id=2, publish=pb.PublishRequest(channel="rooms:lobby", data=nested.encode()))
            )
        else:
            reply = await raw.command("connect", {"token": user.token})
            assert "connect" in reply
            await raw.send_raw('{"id":2,"publish":{"channel":"rooms:lobby","data":' + nested + "}}")
        code, _ = await raw.closed()
        assert code == 3501
    finally:
        await raw.close()
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_erasure_ends_the_users_live_subscriptions_at_once(client, register, ws_url):
    owner, leaver = await register(), await register()
    slug = await _room(client, owner)
    channel = f"rooms:{slug}"
    co, cl = await _connect(ws_url, owner), await _connect(ws_url, leaver)
    events = cl.test_events  # type: ignore[attr-defined]
    try:
        _, rec_o = await _subscribe(co, channel, join_leave=True)
        _, rec_l = await _subscribe(cl, channel)
        await rec_o.wait_for(lambda: any(j.user == leaver.id for j in rec_o.joins))
        assert (await client.delete("/me", headers=leaver.headers)).status_code == 204
        # Closed at once (3011), refused on the reconnect (3500): the SDK stops for good,
        # and the room sees them leave.
        await events.wait_for(lambda: any(d.code == 3500 for d in events.disconnects), within=10)
        await rec_o.wait_for(lambda: any(lv.user == leaver.id for lv in rec_o.leaves))
        presence = await co.presence(channel)
        assert {i.user for i in presence.clients.values()} == {owner.id}
    finally:
        await co.disconnect()
        await cl.disconnect()
