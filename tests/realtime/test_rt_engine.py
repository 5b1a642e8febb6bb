"""The engine in-process: the server API the hub uses, lifecycle, and the wire codecs."""

from __future__ import annotations

import asyncio
import socket

import msgspec
import pytest
import uvicorn
from litestar import Litestar
from rt_policy import TokenAuthenticator, make_policy
from sdk_helpers import RawClient, Recorder, make_client

from realtime import (
    Engine,
    EngineConfig,
    RealtimeASGI,
    UnknownChannel,
    namespace_of,
    user_limit_of,
    websocket_route,
)
from realtime.protocol import client_pb2 as pb
from realtime.protocol.codec import (
    JsonCodec,
    ProtobufCodec,
    json_channel_prefix,
    pb_channel_field,
    pub_push_json,
    pub_push_protobuf,
    read_varint,
)


def test_namespaces_and_user_limits():
    assert namespace_of("runs:42") == "runs"
    assert namespace_of("live:runs") == "live"
    assert namespace_of("notifications#7") == "notifications"
    assert namespace_of("plain") == ""
    assert user_limit_of("notifications#7") == "7"
    assert user_limit_of("rooms:lobby") is None


def test_hot_path_encodings_match_the_schema():
    item = pub_push_protobuf(pb_channel_field("runs:ü"), b'{"a":1}', 300)
    n, pos = read_varint(item, 0)
    assert pos + n == len(item)
    reply = pb.Reply.FromString(item[pos:])
    assert (reply.push.channel, reply.push.pub.data, reply.push.pub.offset) == (
        "runs:ü",
        b'{"a":1}',
        300,
    )
    line = pub_push_json(json_channel_prefix('we"ird'), '{"a":1}', 5)
    assert msgspec.json.decode(line) == {
        "push": {"channel": 'we"ird', "pub": {"data": {"a": 1}, "offset": 5}}
    }


def test_empty_results_keep_their_key():
    assert JsonCodec.reply(5, "publish", {}) == '{"id":5,"publish":{}}'
    item = ProtobufCodec.reply(5, "publish", {})
    assert pb.Reply.FromString(item[1:]).HasField("publish")


@pytest.fixture(
    params=[(True, "route"), (False, "route"), (True, "front")],
    ids=["direct-writes", "asgi-send", "in-front-of-litestar"],
)
async def engine_server(redis_url, request):
    """An Engine served in this process by uvicorn, so the test can stop it: mounted as a
    Litestar route with frames written to uvicorn's transport directly or through plain ASGI
    send, and served in front of the Litestar app (RealtimeASGI)."""
    direct, mount = request.param
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = EngineConfig(direct_writes=direct)
    engine = Engine(redis_url, make_policy(), TokenAuthenticator(), config)
    if mount == "route":
        app = Litestar(route_handlers=[websocket_route(engine)])
    else:
        app = RealtimeASGI(Litestar(route_handlers=[]), engine)
    await engine.start()
    server = uvicorn.Server(
        uvicorn.Config(
            app, port=port, log_level="warning", lifespan="off", ws_per_message_deflate=False
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
        await asyncio.sleep(0.01)
    try:
        yield engine, f"ws://127.0.0.1:{port}/connection/websocket"
    finally:
        await engine.stop()
        server.should_exit = True
        await task


async def test_engine_publish_and_shutdown_code(engine_server, uid):
    engine, url = engine_server
    client = make_client(url)
    await client.connect()
    rec = Recorder()
    sub = client.new_subscription(f"runs:{uid}", events=rec)
    await sub.subscribe()
    await sub.ready(5)
    assert [c.direct is not None for c in engine.clients] == [engine.config.direct_writes]
    result = await engine.publish(f"runs:{uid}", {"type": "run.queued"})
    assert result.offset == 1 and result.epoch
    await rec.wait_for(lambda: rec.pubs == [(1, {"type": "run.queued"})])
    for i in range(50):  # several publications coalesced into one write
        await engine.publish(f"runs:{uid}", {"i": i})
    await rec.wait_for(lambda: len(rec.pubs) == 51)
    assert rec.offsets() == list(range(1, 52))
    with pytest.raises(UnknownChannel):
        await engine.publish(f"nope:{uid}", {})
    await client.disconnect()

    raw = await RawClient.open(url)
    await raw.command("connect")
    await engine.stop()
    assert await raw.closed(3) == (3001, "shutdown")  # SDKs reconnect to another process


async def test_a_reader_that_stops_reading_gets_everything_once_it_reads_again(engine_server, uid):
    """A subscriber that stops reading for a while (a phone in a tunnel) fills the socket
    buffers; the server then holds its publications (flow control: uvicorn pauses writing,
    the engine queues) and, once the subscriber reads again, sends every one of them, in
    order, on the same connection."""
    engine, url = engine_server
    engine.config.send_queue_max_bytes = 64 * 2**20  # this test is not about the bound
    channel = f"nohist:{uid}"
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.connect(("127.0.0.1", int(url.split(":")[2].split("/")[0])))
    sock.setblocking(False)
    raw = await RawClient.open(url, max_queue=1, sock=sock)  # reads only when asked to
    await raw.command("connect")
    assert "subscribe" in await raw.command("subscribe", {"channel": channel})
    (client,) = engine.clients
    blob = "x" * 4000
    n = 2500  # 10 MB: more than the kernel buffers of both ends hold
    for i in range(n):
        await engine.publish(channel, {"i": i, "blob": blob})
    if client.direct is not None:
        # The transport's buffer passes its high-water mark: the engine holds the rest.
        deadline = asyncio.get_running_loop().time() + 10
        while client.direct.writable.is_set() or not client.queue:
            assert asyncio.get_running_loop().time() < deadline, "the server never paused"
            await asyncio.sleep(0.01)
    got = []
    while len(got) < n:
        got += [m["push"]["pub"]["data"]["i"] for m in await raw.pushes(1, within=10)]
    assert got == list(range(n))
    assert client.state == 1 and not client.slow  # still connected
    assert "ping" in await raw.command("ping")
    await raw.close()


async def test_fanout_order_with_bursts_joins_and_replies(engine_server, uid):
    """Publications arriving in bursts (one Redis read, one shared frame per subscriber) while
    subscribers join mid-stream and send commands: every subscriber sees its subscribe reply
    first, then each later publication exactly once, in offset order; replies are not lost."""
    engine, url = engine_server
    channel = f"runs:{uid}"
    await engine.publish(channel, {"i": -1})
    stop = asyncio.Event()
    last = 0

    async def publisher() -> None:
        # Bounded, so a slow machine (joins take longer) cannot queue more for the clients,
        # which read only at the end, than their send queues hold.
        nonlocal last
        i = 0
        while not stop.is_set() and i < 3000:
            results = await engine.publish_many([(channel, {"i": i + k}) for k in range(5)])
            last = results[-1].offset
            i += 5
            await asyncio.sleep(0.001)

    clients: list[tuple[RawClient, int]] = []
    task = asyncio.create_task(publisher())
    try:
        for _ in range(8):
            raw = await RawClient.open(url)
            await raw.command("connect")
            raw.next_id += 1
            sub_id = raw.next_id
            await raw.ws.send(
                msgspec.json.encode({"id": sub_id, "subscribe": {"channel": channel}})
            )
            clients.append((raw, sub_id))
            for other, _ in clients:
                await other.ws.send(msgspec.json.encode({"id": 1000 + len(clients), "ping": {}}))
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
    for raw, sub_id in clients:
        seen: list[dict] = []
        while not seen or "push" not in seen[-1] or seen[-1]["push"]["pub"]["offset"] < last:
            # A deadline, not a timing check: a loaded machine may take seconds.
            await asyncio.wait_for(raw._read(), 30)
            seen += raw.pending
            raw.pending = []
        first = next(i for i, m in enumerate(seen) if m.get("id") == sub_id)
        assert not any("push" in m for m in seen[:first])
        offsets = [m["push"]["pub"]["offset"] for m in seen if "push" in m]
        start = seen[first]["subscribe"]["offset"]
        assert offsets == list(range(start + 1, last + 1))
        pings = sorted(m["id"] for m in seen if m.get("id", 0) >= 1000)
        assert pings == list(
            range(1000 + clients.index((raw, sub_id)) + 1, 1000 + len(clients) + 1)
        )
        await raw.close()
