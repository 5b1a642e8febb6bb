"""The chat rate limit is per user across rooms (plus per room): hopping from room to room
does not multiply what one user may post. REST and realtime publish share it."""

from __future__ import annotations

import pytest
from centrifuge.exceptions import ReplyError

from tests.accounts.test_auth import assert_problem
from tests.conftest import unique
from tests.realtime.sdk_helpers import Recorder, make_client


async def _room(client, owner) -> str:
    slug = unique("rate-")
    r = await client.post("/rooms", headers=owner.headers, json={"slug": slug, "title": "Rate"})
    assert r.status_code == 201, r.text
    return slug


async def _post(client, user, slug: str, text: str):
    return await client.post(f"/rooms/{slug}/messages", headers=user.headers, json={"text": text})


async def test_hopping_rooms_does_not_multiply_the_rate(client, register, hub_server):
    owner, spammer = await register(), await register()
    rooms = [await _room(client, owner) for _ in range(3)]

    # 10 in one room and 10 in another: fine (20 across rooms)...
    for slug in rooms[:2]:
        for i in range(10):
            assert (await _post(client, spammer, slug, f"{slug} {i}")).status_code == 201
    # ...an eleventh in a room is over that room's limit, and a third room is over the
    # user's limit across rooms.
    assert "in a room" in assert_problem(await _post(client, spammer, rooms[0], "x"), 429)["detail"]
    limited = await _post(client, spammer, rooms[2], "c0")
    assert "across all rooms" in assert_problem(limited, 429)["detail"]
    assert 1 <= int(limited.headers["Retry-After"]) <= 10

    # The realtime publish path shares the same counters: error 111.
    ws_url = hub_server.replace("http://", "ws://") + "/connection/websocket"
    c = make_client(ws_url, token=spammer.token)
    await c.connect()
    try:
        sub = c.new_subscription(f"rooms:{rooms[2]}", Recorder())
        await sub.subscribe()
        await sub.ready(5)
        with pytest.raises(ReplyError) as err:
            await sub.publish({"text": "c1"})
        assert err.value.code == 111
    finally:
        await c.disconnect()
    history = (await client.get(f"/rooms/{rooms[2]}/messages")).json()["items"]
    assert history == []
    # Someone else is not slowed down by it.
    other = await register()
    assert (await _post(client, other, rooms[2], "hello")).status_code == 201
