"""HTTP fallbacks for networks that block websockets: centrifuge-js with its `transports` option
on HTTP streaming (JSON and Protobuf) and SSE, against the real hub. Same protocol, same
permissions, same recovery as the websocket."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from hub import live
from hub.platform import auth
from realtime import metrics
from tests.conftest import unique
from tests.hub_realtime.conftest import NodeScenario, login, needs_node, run_js
from tests.hub_realtime.test_info import _moderator
from tests.runs.helpers import TERMINAL_TYPES, make_prompt, start, wait_run

TRANSPORTS = [
    pytest.param("http_stream", "json", id="http_stream-json"),
    pytest.param("http_stream", "protobuf", id="http_stream-protobuf"),
    pytest.param("sse", "json", id="sse"),
]


def _connects(transport: str) -> float:
    return metrics.CONNECTS.labels(transport)._value.get()


@needs_node
@pytest.mark.parametrize("transport,fmt", TRANSPORTS)
async def test_chat_with_presence_and_info_over_http(client, register, ws_url, transport, fmt):
    mod, reader = await _moderator(client, register), await register()
    slug = unique("http-")
    await client.post("/rooms", headers=reader.headers, json={"slug": slug, "title": "HTTP"})
    before = _connects(transport)
    result = await run_js(
        "chat_info",
        {
            "url": ws_url,
            "token": reader.token,
            "token2": mod.token,
            "user2": mod.id,
            "channel": f"rooms:{slug}",
            "format": fmt,
            "transport": transport,
        },
    )
    assert _connects(transport) >= before + 2  # both clients came in over this transport
    expected = {"handle": mod.handle, "display_name": "Mo Derator"}
    for what in ("pubInfo", "join", "presence"):  # publish and presence went through /emulation
        assert result[what]["user"] == mod.id and result[what]["connInfo"] == expected
    # The publication was persisted like any chat message.
    messages = (await client.get(f"/rooms/{slug}/messages")).json()["items"]
    assert [m["text"] for m in messages] == ["hello"]


@needs_node
@pytest.mark.parametrize("transport,fmt", TRANSPORTS)
async def test_late_joiner_and_permissions_over_http(client, register, ws_url, transport, fmt):
    creator, buyer, stranger = await register(), await register(), await register()
    prompt = await make_prompt(client, creator, price_cents=5)
    r = await start(client, buyer, prompt["id"], max_tokens=60, visibility="private")
    assert r.status_code in (200, 201, 202), r.text
    run_id = r.json()["id"]
    args = {"url": ws_url, "channel": f"runs:{run_id}", "format": fmt, "transport": transport}
    result = await run_js("late_joiner", {**args, "token": buyer.token})
    final = await wait_run(client, buyer, run_id)
    assert result["subscribed"][0] == {"wasRecovering": True, "recovered": True}
    deltas = [p["text"] for p in result["pubs"] if p["type"] == "run.delta"]
    assert "".join(deltas) == final["output"]
    assert [p["type"] for p in result["pubs"] if p["type"] in TERMINAL_TYPES] == ["run.completed"]
    # A private run stays private over HTTP as well.
    denied = await run_js("subscribe_error", {**args, "token": stranger.token})
    assert denied["code"] == 103


@needs_node
@pytest.mark.parametrize("transport,fmt", TRANSPORTS)
async def test_stale_token_server_side_subs_and_recovery_over_http(
    client, register, proxy, transport, fmt
):
    user = await register()
    session = await login(client, user)
    stale, _ = auth.issue_realtime_token(user.id, str(uuid.uuid4()), ttl_seconds=-60)
    api = f"http://127.0.0.1:{proxy.target_port}/api/v1"
    node = await NodeScenario.start(
        "server_subs",
        {
            "url": proxy.ws_url,
            "api": api,
            "refresh": session["refresh_token"],
            "token": stale,  # 109 first, then getToken, over HTTP too
            "format": fmt,
            "transport": transport,
            "count": 2,
        },
    )
    expired_before = metrics.COMMANDS.labels("connect", "109")._value.get()
    try:
        await node.expect("subscribed")
        assert metrics.COMMANDS.labels("connect", "109")._value.get() == expired_before + 1
        note = f"notifications#{user.id}"
        await live.publish(note, {"type": "notification.created", "id": "1"})
        await node.expect("publication")
        await proxy.cut()
        await node.expect("offline")
        await live.publish(f"feed#{user.id}", {"type": "feed.item", "id": "missed"})
        await proxy.start()
        result = await node.result()
    finally:
        node.kill()
    assert [p["data"]["id"] for p in result["pubs"]] == ["1", "missed"]
    again = result["subscribed"][2:]
    assert all(s["wasRecovering"] and s["recovered"] for s in again)


async def test_emulation_endpoint_answers_bad_requests_clearly(hub_server):
    async with httpx.AsyncClient(base_url=hub_server) as http:
        r = await http.post("/emulation", content=b"not json")
        assert r.status_code == 400
        r = await http.post("/emulation", json={"node": "nosuchnode", "session": "x", "data": "{}"})
        assert r.status_code == 404  # no such hub process: the SDK reconnects
        r = await http.post(
            "/emulation", json={"node": "n", "session": "x", "data": "x" * (70 * 1024)}
        )
        assert r.status_code == 413
        assert (await http.get("/emulation")).status_code == 405
        assert (await http.get("/connection/http_stream")).status_code == 405
        assert (await http.get("/connection/sse")).status_code == 400  # no cf_connect
        assert (await http.options("/emulation")).status_code == 204


async def test_http_stream_by_hand_connect_then_command_then_disconnect_push(register, hub_server):
    """The wire format without an SDK: one JSON reply per line, commands via /emulation, and
    the end of the stream is a disconnect push (there is no close frame)."""
    user = await register()
    async with httpx.AsyncClient(base_url=hub_server, timeout=10) as http:
        body = json.dumps({"id": 1, "connect": {"token": user.token}})
        async with http.stream("POST", "/connection/http_stream", content=body) as r:
            assert r.status_code == 200
            lines = r.aiter_lines()
            connect = json.loads(await anext(lines))["connect"]
            assert connect["session"] and connect["node"]
            assert set(connect["subs"]) == {f"notifications#{user.id}", f"feed#{user.id}"}
            cmd = {"id": 2, "subscribe": {"channel": "rooms:LOBBY"}}
            r2 = await http.post(
                "/emulation",
                json={
                    "node": connect["node"],
                    "session": connect["session"],
                    "data": json.dumps(cmd),
                },
            )
            assert r2.status_code == 204
            reply = json.loads(await anext(lines))
            assert reply == {"id": 2, "error": {"code": 102, "message": "unknown channel"}}
            # A protocol violation ends the stream with a disconnect push.
            await http.post(
                "/emulation",
                json={"node": connect["node"], "session": connect["session"], "data": "[1,"},
            )
            push = json.loads(await anext(lines))
            assert push == {"push": {"disconnect": {"code": 3501, "reason": "bad request"}}}
            assert [line async for line in lines] == []  # and the body ends
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the session is gone: commands are dropped
            r3 = await http.post(
                "/emulation",
                json={"node": connect["node"], "session": connect["session"], "data": "{}"},
            )
            if r3.status_code == 204:
                break
        assert r3.status_code == 204
