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
