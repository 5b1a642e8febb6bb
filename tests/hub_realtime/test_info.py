"""Who said it, who is here: client publications, presence and join/leave carry the client id,
user id and `conn_info` {handle, display_name} - never roles - so a chat UI needs no REST call
per online user."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hub.platform.db import fetch
from tests.conftest import unique
from tests.hub_realtime.conftest import needs_node, run_js
from tests.realtime.sdk_helpers import Recorder, make_client


def _conn(value: Any) -> Any:
    return json.loads(value) if isinstance(value, bytes | str) else value


async def _moderator(client, register):
    """A moderator: roles exist and must still never reach other users."""
    acct = await register(display_name="Mo Derator")
    await fetch("UPDATE users SET roles = '{moderator}' WHERE id = $1::uuid", acct.id)
    return acct


@pytest.mark.parametrize("protobuf", [False, True], ids=["json", "protobuf"])
async def test_publications_presence_and_join_carry_handle_never_roles(
    client, register, ws_url, protobuf
):
    mod, reader = await _moderator(client, register), await register()
    slug = unique("info-")
    await client.post("/rooms", headers=reader.headers, json={"slug": slug, "title": "Info"})
    channel = f"rooms:{slug}"
    expected = {"handle": mod.handle, "display_name": "Mo Derator"}
    cr = make_client(ws_url, token=reader.token, protobuf=protobuf)
    cm = make_client(ws_url, token=mod.token, protobuf=protobuf)
    await cr.connect()
    await cm.connect()
    try:
        rec = Recorder(protobuf)
        events: list[Any] = []
        orig = rec.on_publication

        async def on_publication(ctx) -> None:
            events.append(ctx.pub.info)
            await orig(ctx)

        rec.on_publication = on_publication  # type: ignore[method-assign]
        sub = cr.new_subscription(channel, rec, join_leave=True)
        await sub.subscribe()
        await sub.ready(5)
        sub_m = cm.new_subscription(channel, Recorder(protobuf))
        await sub_m.subscribe()
        await sub_m.ready(5)

        await rec.wait_for(lambda: any(j.user == mod.id for j in rec.joins))
        join = next(j for j in rec.joins if j.user == mod.id)
        assert _conn(join.conn_info) == expected and join.client

        presence = await sub.presence()
        entry = next(i for i in presence.clients.values() if i.user == mod.id)
        assert _conn(entry.conn_info) == expected and entry.client == join.client

        payload = json.dumps({"text": "hi"}).encode() if protobuf else {"text": "hi"}
        await sub_m.publish(payload)
        await rec.wait_for(lambda: len(rec.pubs) == 1)
        info = events[0]
        assert info is not None
        assert (info.user, info.client) == (mod.id, join.client)
        assert _conn(info.conn_info) == expected

        # History (and so recovery) keeps who said it.
        res = await sub.history(limit=-1)
        hist = res.publications[-1].info
        assert (hist.user, _conn(hist.conn_info)) == (mod.id, expected)

        # A server publication (the REST path) has no client info.
        await client.post(f"/rooms/{slug}/messages", headers=reader.headers, json={"text": "rest"})
        await rec.wait_for(lambda: len(rec.pubs) == 2)
        assert events[1] is None

        await sub_m.unsubscribe()
        await rec.wait_for(lambda: any(lv.user == mod.id for lv in rec.leaves))
        leave = next(lv for lv in rec.leaves if lv.user == mod.id)
        assert _conn(leave.conn_info) == expected
        assert "roles" not in json.dumps([expected, _conn(info.conn_info)])
    finally:
        await cr.disconnect()
        await cm.disconnect()


@needs_node
async def test_centrifuge_js_sees_who_said_it_and_who_is_here(client, register, ws_url):
    mod, reader = await _moderator(client, register), await register()
    slug = unique("jsinfo-")
    await client.post("/rooms", headers=reader.headers, json={"slug": slug, "title": "Info"})
    for fmt in ("json", "protobuf"):
        result = await run_js(
            "chat_info",
            {
                "url": ws_url,
                "token": reader.token,
                "token2": mod.token,
                "user2": mod.id,
                "channel": f"rooms:{slug}",
                "format": fmt,
            },
        )
        expected = {"handle": mod.handle, "display_name": "Mo Derator"}
        for what in ("pubInfo", "join", "presence"):
            assert result[what]["user"] == mod.id, what
            assert result[what]["connInfo"] == expected, what
        assert result["pubInfo"]["client"] == result["join"]["client"]
        assert "roles" not in json.dumps(result)
