"""The official centrifuge-python SDK against the hub, over JSON and Protobuf."""

from __future__ import annotations

import asyncio
import time

import pytest
from centrifuge import ReplyError, StreamPosition, SubscriptionState
from sdk_helpers import Recorder, encode, make_client

PROTOCOLS = [pytest.param(False, id="json"), pytest.param(True, id="protobuf")]


async def subscribed(client, channel: str, protobuf: bool, **kw):
    rec = Recorder(protobuf)
    sub = client.new_subscription(channel, events=rec, **kw)
    await sub.subscribe()
    await sub.ready(5)
    return sub, rec


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_connect_subscribe_receive(hub, publisher, uid, protobuf):
    client = make_client(hub.ws_url, token=f"u{uid}:0", protobuf=protobuf)
    await client.connect()
    sub, rec = await subscribed(client, f"public:{uid}", protobuf)
    assert rec.subscribed[0].recoverable
    for i in range(5):
        await publisher.publish(f"public:{uid}", {"type": "t", "i": i})
    await rec.wait_for(lambda: len(rec.pubs) == 5)
    assert rec.data() == [{"type": "t", "i": i} for i in range(5)]
    assert rec.offsets() == [1, 2, 3, 4, 5]
    await client.disconnect()


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_presence_and_join_leave(hub, uid, protobuf):
    channel = f"chat:{uid}"
    a = make_client(hub.ws_url, token=f"alice{uid}:0", protobuf=protobuf)
    b = make_client(hub.ws_url, token=f"bob{uid}:0", protobuf=protobuf)
    await a.connect()
    await b.connect()
    _, rec_a = await subscribed(a, channel, protobuf, join_leave=True)
    await rec_a.wait_for(lambda: len(rec_a.joins) == 1)  # its own join
    sub_b, _ = await subscribed(b, channel, protobuf)
    await rec_a.wait_for(lambda: len(rec_a.joins) == 2)
    assert rec_a.joins[1].user == f"bob{uid}"

    presence = await a.presence(channel)
    assert sorted(c.user for c in presence.clients.values()) == [f"alice{uid}", f"bob{uid}"]
    stats = await a.presence_stats(channel)
    assert (stats.num_clients, stats.num_users) == (2, 2)

    await sub_b.unsubscribe()
    await rec_a.wait_for(lambda: len(rec_a.leaves) == 1)
    assert rec_a.leaves[0].user == f"bob{uid}"
    stats = await a.presence_stats(channel)
    assert (stats.num_clients, stats.num_users) == (1, 1)
    await a.disconnect()
    await b.disconnect()


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_history_limit_since_reverse(hub, publisher, uid, protobuf):
    channel = f"public:{uid}"
    results = [await publisher.publish(channel, {"i": i}) for i in range(10)]
    epoch = results[0].epoch
    client = make_client(hub.ws_url, protobuf=protobuf)
    await client.connect()

    def values(res):
        return [(p.offset, encode_back(p.data, protobuf)["i"]) for p in res.publications]

    res = await client.history(channel, limit=-1)
    assert (res.offset, res.epoch) == (10, epoch)
    assert values(res) == [(i + 1, i) for i in range(10)]
    res = await client.history(channel, limit=3)
    assert values(res) == [(1, 0), (2, 1), (3, 2)]
    res = await client.history(channel, limit=3, reverse=True)
    assert values(res) == [(10, 9), (9, 8), (8, 7)]
    res = await client.history(channel, limit=-1, since=StreamPosition(offset=7, epoch=epoch))
    assert values(res) == [(8, 7), (9, 8), (10, 9)]
    res = await client.history(channel, limit=0)
    assert res.publications == [] and res.offset == 10
    with pytest.raises(ReplyError) as e:
        await client.history(channel, limit=5, since=StreamPosition(offset=3, epoch="other"))
    assert e.value.code == 112
    with pytest.raises(ReplyError) as e:
        await client.history(f"nohist:{uid}", limit=5)
    assert e.value.code == 108
    await client.disconnect()


def encode_back(data, protobuf):
    import json

    return json.loads(data) if protobuf else data


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_client_publish_goes_through_policy(hub, uid, protobuf):
    channel = f"chat:{uid}"
    client = make_client(hub.ws_url, token=f"carol{uid}:0", protobuf=protobuf)
    await client.connect()
    _, rec = await subscribed(client, channel, protobuf)
    await client.publish(channel, encode({"text": "hello"}, protobuf))
    await rec.wait_for(lambda: len(rec.pubs) == 1)
    assert rec.data() == [{"type": "room.message", "text": "hello", "by": f"carol{uid}"}]
    with pytest.raises(ReplyError) as e:
        await client.publish(channel, encode({"text": "forbidden"}, protobuf))
    assert (e.value.code, e.value.message) == (103, "message rejected")
    with pytest.raises(ReplyError) as e:
        await client.publish(f"public:{uid}", encode({"text": "x"}, protobuf))
    assert e.value.code == 103
    with pytest.raises(ReplyError) as e:
        await client.publish(f"nope:{uid}", encode({"text": "x"}, protobuf))
    assert e.value.code == 102
    await client.disconnect()


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_anonymous_reads_public_only(hub, publisher, uid, protobuf):
    client = make_client(hub.ws_url, protobuf=protobuf)
    await client.connect()
    sub, rec = await subscribed(client, f"public:{uid}", protobuf)
    await publisher.publish(f"public:{uid}", {"n": 1})
    await rec.wait_for(lambda: len(rec.pubs) == 1)
    for channel, code in [
        (f"members:{uid}", 103),
        (f"notifications#{uid}", 103),
        (f"private:{uid}", 103),
        (f"unknown:{uid}", 102),
    ]:
        r = Recorder(protobuf)
        s = client.new_subscription(channel, events=r)
        await s.subscribe()
        await r.wait_for(lambda r=r: r.unsubscribed or r.errors)
        assert s.state == SubscriptionState.UNSUBSCRIBED, channel
        assert r.unsubscribed[0].code == code, channel
    with pytest.raises(ReplyError) as e:
        await client.publish(f"chat:{uid}", encode({"text": "hi"}, protobuf))
    assert e.value.code == 103
    await client.disconnect()


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_permissions_for_users(hub, uid, protobuf):
    client = make_client(hub.ws_url, token=f"u{uid}:0", protobuf=protobuf)
    vip = make_client(hub.ws_url, token=f"vip{uid}:0", protobuf=protobuf)
    await client.connect()
    await vip.connect()
    await subscribed(client, f"members:{uid}", protobuf)
    await subscribed(client, f"notifications#u{uid}", protobuf)
    await subscribed(vip, f"private:{uid}", protobuf)
    for channel in [f"notifications#vip{uid}", f"private:{uid}"]:
        r = Recorder(protobuf)
        s = client.new_subscription(channel, events=r)
        await s.subscribe()
        await r.wait_for(lambda r=r: r.unsubscribed)
        assert r.unsubscribed[0].code == 103
    await client.disconnect()
    await vip.disconnect()


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_rpc(hub, uid, protobuf):
    client = make_client(hub.ws_url, token=f"r{uid}:0", protobuf=protobuf)
    await client.connect()
    res = await client.rpc("whoami", encode({}, protobuf))
    assert encode_back(res.data, protobuf) == {"user": f"r{uid}"}
    with pytest.raises(ReplyError) as e:
        await client.rpc("nope", encode({}, protobuf))
    assert e.value.code == 104
    await client.disconnect()


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_token_refresh_keeps_connection(hub, publisher, uid, protobuf):
    tokens = []

    async def get_token() -> str:
        token = f"t{uid}:{int(time.time()) + 3}"
        tokens.append(token)
        return token

    client = make_client(hub.ws_url, protobuf=protobuf, get_token=get_token)
    await client.connect()
    _, rec = await subscribed(client, f"public:{uid}", protobuf)
    # tokens live 3 s and the grace is 1 s: without refreshes the server would close at ~4 s
    await asyncio.sleep(6)
    assert len(tokens) >= 3
    assert client.test_events.disconnects == []
    assert len(client.test_events.connected) == 1
    await publisher.publish(f"public:{uid}", {"still": "here"})
    await rec.wait_for(lambda: len(rec.pubs) == 1)
    await client.disconnect()


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_expired_token_on_connect_gets_a_new_one(hub, uid, protobuf):
    calls = []

    async def get_token() -> str:
        calls.append(1)
        return f"x{uid}:{int(time.time()) + 60}"

    client = make_client(
        hub.ws_url, token=f"x{uid}:{int(time.time()) - 5}", protobuf=protobuf, get_token=get_token
    )
    await client.connect()
    await client.ready(5)
    assert calls and client.test_events.connected
    await client.disconnect()


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_invalid_token_stops_the_sdk(hub, protobuf):
    client = make_client(hub.ws_url, token="invalid", protobuf=protobuf)
    await client.connect()
    await client.test_events.wait_for(lambda: client.test_events.disconnects)
    assert client.test_events.disconnects[0].code == 3500


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_recovery_after_reconnect(hub, publisher, uid, protobuf):
    channel = f"public:{uid}"
    await publisher.publish(channel, {"before": 0})
    client = make_client(hub.ws_url, token=f"rec{uid}:0", protobuf=protobuf)
    await client.connect()
    sub, rec = await subscribed(client, channel, protobuf)
    await publisher.publish(channel, {"live": 1})
    await rec.wait_for(lambda: len(rec.pubs) == 1)
    await client.disconnect()

    missed = [{"missed": i} for i in range(7)]
    for data in missed:
        await publisher.publish(channel, data)
    await client.connect()
    await rec.wait_for(lambda: len(rec.subscribed) == 2 and len(rec.pubs) == 8)
    ctx = rec.subscribed[1]
    assert ctx.was_recovering and ctx.recovered
    assert rec.data()[1:] == missed
    assert rec.offsets() == list(range(2, 10))
    await client.disconnect()


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_recovery_fails_visibly_when_history_is_lost(hub, publisher, redis, uid, protobuf):
    channel = f"public:{uid}"
    client = make_client(hub.ws_url, token=f"lost{uid}:0", protobuf=protobuf)
    await client.connect()
    sub, rec = await subscribed(client, channel, protobuf)
    await publisher.publish(channel, {"n": 1})
    await rec.wait_for(lambda: len(rec.pubs) == 1)
    await client.disconnect()
    await publisher.publish(channel, {"n": 2})
    # Redis loses the channel (flush, eviction, restart without persistence)
    await redis.delete(f"hub:{{{channel}}}:meta", f"hub:{{{channel}}}:stream")
    await publisher.publish(channel, {"n": 3})
    await client.connect()
    await rec.wait_for(lambda: len(rec.subscribed) == 2)
    ctx = rec.subscribed[1]
    assert ctx.was_recovering and not ctx.recovered
    assert rec.data() == [{"n": 1}]  # no silent gap: nothing pretends to be the continuation
    await publisher.publish(channel, {"n": 4})
    await rec.wait_for(lambda: len(rec.pubs) == 2)
    assert rec.data()[-1] == {"n": 4}
    await client.disconnect()


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_recovery_fails_when_history_window_is_exceeded(hub, publisher, uid, protobuf):
    channel = f"small:{uid}"  # history_size 5
    client = make_client(hub.ws_url, protobuf=protobuf)
    await client.connect()
    sub, rec = await subscribed(client, channel, protobuf)
    await client.disconnect()
    for i in range(8):
        await publisher.publish(channel, {"i": i})
    await client.connect()
    await rec.wait_for(lambda: len(rec.subscribed) == 2)
    assert not rec.subscribed[1].recovered
    assert rec.pubs == []
    await client.disconnect()


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_publications_racing_the_subscribe_are_neither_lost_nor_duplicated(
    hub, publisher, uid, protobuf
):
    channel = f"runs:{uid}"
    stop = asyncio.Event()
    online = asyncio.Event()
    online.set()
    published = []
    # While the client is away, the pump publishes at most half the channel's history window
    # (runs: 1000) and then waits for it to be back, so recovery always fits in the window,
    # however fast the publisher is compared with the reconnect.
    offline_quota = 500
    missed = 0

    async def pump():
        nonlocal missed
        while not stop.is_set():
            if not online.is_set():
                if missed >= offline_quota:
                    await online.wait()
                missed += 1
            published.append((await publisher.publish(channel, {"n": len(published)})).offset)

    task = asyncio.create_task(pump())
    await asyncio.sleep(0.05)
    client = make_client(hub.ws_url, protobuf=protobuf)
    await client.connect()
    sub, rec = await subscribed(client, channel, protobuf)
    start = rec.subscribed[0].stream_position.offset
    await asyncio.sleep(0.3)
    missed = 0
    online.clear()
    await client.disconnect()  # recover mid-stream as well
    await asyncio.sleep(0.1)
    await client.connect()
    await rec.wait_for(lambda: len(rec.subscribed) == 2)
    online.set()
    await asyncio.sleep(0.3)
    stop.set()
    await task
    last = published[-1]
    await rec.wait_for(lambda: rec.pubs and rec.offsets()[-1] == last)
    assert rec.subscribed[1].recovered
    assert rec.offsets() == list(range(start + 1, last + 1))
    await client.disconnect()


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_live_subscriber_notices_a_lost_stream(hub, publisher, redis, uid, protobuf):
    """Redis loses the channel while a client is subscribed: the next publication carries a
    new epoch, the server sends unsubscribe 2500, and the SDK resubscribes (recovered=false)."""
    channel = f"public:{uid}"
    client = make_client(hub.ws_url, protobuf=protobuf)
    await client.connect()
    sub, rec = await subscribed(client, channel, protobuf)
    await publisher.publish(channel, {"n": 1})
    await rec.wait_for(lambda: len(rec.pubs) == 1)
    await redis.delete(f"hub:{{{channel}}}:meta", f"hub:{{{channel}}}:stream")
    await publisher.publish(channel, {"n": 2})
    await rec.wait_for(lambda: len(rec.subscribed) == 2)
    assert rec.subscribed[1].was_recovering and not rec.subscribed[1].recovered
    await publisher.publish(channel, {"n": 3})
    await rec.wait_for(lambda: rec.pubs and rec.data()[-1] == {"n": 3})
    await client.disconnect()
