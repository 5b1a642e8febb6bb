"""Limits, close codes and bad input, spoken by hand over a bare websocket."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from sdk_helpers import RawClient
from websockets.exceptions import ConnectionClosed


async def connected(hub, token: str = "", **kw) -> RawClient:
    raw = await RawClient.open(hub.ws_url, **kw)
    reply = await raw.command("connect", {"token": token} if token else {})
    assert "connect" in reply, reply
    return raw


async def test_connect_result_and_empty_results(hub, uid):
    raw = await RawClient.open(hub.ws_url)
    reply = await raw.command("connect", {"token": f"u{uid}:{int(time.time()) + 100}"})
    res = reply["connect"]
    assert res["client"] and res["pong"] is True and res["ping"] == 1
    assert res["expires"] is True and 90 <= res["ttl"] <= 100
    assert await raw.command("subscribe", {"channel": f"nohist:{uid}"}) == {
        "id": 2,
        "subscribe": {},
    }
    assert await raw.command("unsubscribe", {"channel": f"nohist:{uid}"}) == {
        "id": 3,
        "unsubscribe": {},
    }
    await raw.close()


async def test_commands_in_one_frame_are_processed_in_order(hub, uid):
    raw = await RawClient.open(hub.ws_url)
    frame = "\n".join(
        json.dumps(c)
        for c in [
            {"id": 1, "connect": {}},
            {"id": 2, "subscribe": {"channel": f"public:{uid}"}},
            {"id": 3, "subscribe": {"channel": f"public:{uid}"}},
            {"id": 4, "history": {"channel": f"public:{uid}"}},
        ]
    )
    await raw.send_raw(frame)
    r1, r2, r3, r4 = [await raw.reply(i) for i in (1, 2, 3, 4)]
    assert "connect" in r1
    assert r2["subscribe"]["recoverable"] is True
    assert r3["error"]["code"] == 105  # duplicate subscribe
    assert r4["history"]["epoch"] == r2["subscribe"]["epoch"]
    await raw.close()


async def test_unknown_namespace_and_protocol_violations(hub, uid):
    raw = await connected(hub)
    assert (await raw.command("subscribe", {"channel": f"zzz:{uid}"}))["error"]["code"] == 102
    # A command the protocol does not have, or a subscribe without a channel, is a protocol
    # violation: Centrifugo closes with 3501 "bad request", and so does the hub.
    await raw.send_raw(json.dumps({"id": 50, "frobnicate": {}}))
    assert await raw.closed() == (3501, "bad request")
    raw = await connected(hub)
    await raw.send_raw(json.dumps({"id": 51, "subscribe": {"channel": ""}}))
    assert await raw.closed() == (3501, "bad request")


async def test_channels_per_connection_limit(hub, uid):
    raw = await connected(hub)
    for i in range(20):
        assert "subscribe" in await raw.command("subscribe", {"channel": f"nohist:{uid}-{i}"})
    reply = await raw.command("subscribe", {"channel": f"nohist:{uid}-x"})
    assert reply["error"]["code"] == 106
    await raw.close()


async def test_commands_per_second_limit(hub, uid):
    raw = await connected(hub)
    frame = "\n".join(json.dumps({"id": 100 + i, "ping": {}}) for i in range(150))
    await raw.send_raw(frame)
    replies = [await raw.reply(100 + i) for i in range(150)]
    limited = [r for r in replies if "error" in r]
    assert limited and all(
        r["error"] == {"code": 111, "message": "too many requests", "temporary": True}
        for r in limited
    )
    assert len(replies) - len(limited) >= 100  # the burst
    await asyncio.sleep(0.5)  # tokens refill
    assert "ping" in await raw.command("ping")
    await raw.close()


async def test_oversized_frame_closes_1009(hub):
    raw = await connected(hub)
    await raw.send_raw(json.dumps({"id": 9, "rpc": {"method": "echo", "data": "x" * 70000}}))
    assert await raw.closed() == (1009, "message too big")


async def test_invalid_json_closes_3501(hub):
    raw = await connected(hub)
    await raw.send_raw("{not json")
    assert await raw.closed() == (3501, "bad request")


async def test_command_before_connect_closes_3501(hub, uid):
    raw = await RawClient.open(hub.ws_url)
    await raw.send_raw(json.dumps({"id": 1, "subscribe": {"channel": f"public:{uid}"}}))
    assert await raw.closed() == (3501, "bad request")


async def test_no_connect_command_closes_3502(hub):
    raw = await RawClient.open(hub.ws_url)
    assert await raw.closed() == (3502, "stale")


async def test_expired_token_is_error_109(hub, uid):
    raw = await RawClient.open(hub.ws_url)
    reply = await raw.command("connect", {"token": f"u{uid}:{int(time.time()) - 1}"})
    assert reply["error"]["code"] == 109
    await raw.close()


async def test_pong_timeout_closes_3012(hub):
    raw = await connected(hub)
    # the server pings every second and waits 1.5 s for a pong; we never answer
    code = await raw.closed(within=6)
    assert code == (3012, "no pong")


async def test_pongs_keep_the_connection(hub):
    raw = await connected(hub)
    deadline = time.monotonic() + 4
    pings = 0
    while time.monotonic() < deadline:
        frame = await asyncio.wait_for(raw.ws.recv(), 3)
        if "{}" in frame.split("\n"):
            pings += 1
            await raw.send_raw("{}")
    assert pings >= 3
    assert raw.ws.protocol.close_rcvd is None
    await raw.close()


async def test_token_expiry_closes_3005_after_grace(hub, uid):
    raw = await RawClient.open(hub.ws_url)
    reply = await raw.command("connect", {"token": f"e{uid}:{int(time.time()) + 2}"})
    assert reply["connect"]["expires"] is True

    async def answer_pings_until_closed() -> None:
        try:
            async for frame in raw.ws:
                if "{}" in frame.split("\n"):
                    await raw.send_raw("{}")
        except ConnectionClosed:
            pass  # the server's close frame is what this test waits for

    # Pongs keep the connection alive, so only the expired token can end it.
    await asyncio.wait_for(answer_pings_until_closed(), 8)
    rcvd = raw.ws.protocol.close_rcvd
    assert rcvd is not None and (rcvd.code, rcvd.reason) == (3005, "connection expired")


async def test_refresh_extends_the_connection(hub, uid):
    raw = await RawClient.open(hub.ws_url)
    await raw.command("connect", {"token": f"f{uid}:{int(time.time()) + 2}"})
    reply = await raw.command("refresh", {"token": f"f{uid}:{int(time.time()) + 100}"})
    assert reply["refresh"]["expires"] is True and reply["refresh"]["ttl"] > 90
    token = f"other{uid}:{int(time.time()) + 100}"
    await raw.send_raw(json.dumps({"id": 9, "refresh": {"token": token}}))
    assert await raw.closed() == (3500, "invalid token")


async def test_connections_per_user_limit_across_processes(hub, hub2, uid):
    token = f"many{uid}:0"
    conns = [await connected(hub if i % 2 else hub2, token) for i in range(5)]
    raw = await RawClient.open(hub.ws_url)
    await raw.send_raw(json.dumps({"id": 1, "connect": {"token": token}}))
    assert await raw.closed() == (3504, "connection limit")
    await conns[0].close()
    await asyncio.sleep(0.3)
    again = await connected(hub2, token)
    for c in [*conns[1:], again]:
        await c.close()


async def test_disconnect_user_reaches_every_process(hub, hub2, uid):
    token = f"ban{uid}:0"
    a = await connected(hub, token)
    b = await connected(hub2, token)
    other = await connected(hub2, f"ok{uid}:0")
    async with httpx.AsyncClient() as http:
        (await http.post(f"{hub.url}/disconnect/ban{uid}")).raise_for_status()
    assert await a.closed(3) == (3503, "force disconnect")
    assert await b.closed(3) == (3503, "force disconnect")
    assert "ping" in await other.command("ping")
    await other.close()


async def test_disconnect_user_from_a_worker(hub, publisher, uid):
    a = await connected(hub, f"w{uid}:0")
    await publisher.disconnect_user(f"w{uid}")
    assert await a.closed(3) == (3503, "force disconnect")


async def test_protobuf_text_frame_closes_3501(hub):
    raw = await RawClient.open(hub.ws_url, protobuf=True)
    assert raw.ws.subprotocol == "centrifuge-protobuf"
    await raw.send_raw('{"id":1,"connect":{}}')
    assert await raw.closed() == (3501, "bad request")


async def test_shutdown_tells_every_transport_to_reconnect_with_3001(redis_url, uid):
    """SIGTERM: websocket clients get close 3001 "shutdown" (not uvicorn's 1012) and HTTP
    streams a 3001 disconnect push, so SDKs reconnect to another process at once."""
    from conftest import TEST_CONFIG, HubServer

    server = HubServer(redis_url, TEST_CONFIG)
    try:
        ws = await connected(server, f"u{uid}:0")
        async with httpx.AsyncClient(timeout=10) as http:
            body = json.dumps({"id": 1, "connect": {"token": f"h{uid}:0"}})
            async with http.stream(
                "POST", f"{server.url}/connection/http_stream", content=body
            ) as r:
                lines = r.aiter_lines()
                assert "connect" in json.loads(await anext(lines))
                server.proc.terminate()
                assert await ws.closed() == (3001, "shutdown")
                rest = [json.loads(line) async for line in lines if line != "{}"]
                assert rest[-1] == {"push": {"disconnect": {"code": 3001, "reason": "shutdown"}}}
        server.proc.wait(10)  # and the process exits (uvicorn re-raises SIGTERM: status -15)
    finally:
        server.stop()
