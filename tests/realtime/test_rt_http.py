"""HTTP streaming and emulation across hub processes: a command POSTed to any process reaches
the connection on the process that holds it (through that node's Redis channel)."""

from __future__ import annotations

import json

import httpx


async def test_emulation_command_posted_to_another_process_reaches_the_connection(
    hub, hub2, publisher, uid
):
    channel = f"public:{uid}"
    async with httpx.AsyncClient(timeout=10) as http:
        body = json.dumps({"id": 1, "connect": {"token": f"u{uid}:0"}})
        async with http.stream("POST", f"{hub.url}/connection/http_stream", content=body) as r:
            lines = r.aiter_lines()
            connect = json.loads(await anext(lines))["connect"]
            cmd = {"id": 2, "subscribe": {"channel": channel}}
            addressed = {"node": connect["node"], "session": connect["session"]}
            r2 = await http.post(
                f"{hub2.url}/emulation", json={**addressed, "data": json.dumps(cmd)}
            )
            assert r2.status_code == 204
            reply = json.loads(await anext(lines))
            assert reply["id"] == 2 and reply["subscribe"]["recoverable"]
            await publisher.publish(channel, {"n": 1})
            push = json.loads(await anext(lines))
            assert push == {"push": {"channel": channel, "pub": {"data": {"n": 1}, "offset": 1}}}
            # Commands of one session keep their order, wherever they are posted.
            for i, target in enumerate((hub, hub2, hub, hub2)):
                cmd = {"id": 10 + i, "rpc": {"method": "echo", "data": {"i": i}}}
                r3 = await http.post(
                    f"{target.url}/emulation", json={**addressed, "data": json.dumps(cmd)}
                )
                assert r3.status_code == 204
            replies = [json.loads(await anext(lines)) for _ in range(4)]
            assert [r["rpc"]["data"]["i"] for r in replies] == [0, 1, 2, 3]
