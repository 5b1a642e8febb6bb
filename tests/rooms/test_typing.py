"""Typing indicators over the official centrifuge-python SDK: a publish to `typing:<slug>`,
ephemeral (no history), rate-limited, expiring, for those who may post only."""

from __future__ import annotations

import pytest
from centrifuge.exceptions import ReplyError

from tests.community.live import live, of_type, subscribe_error
from tests.conftest import unique
from tests.realtime.sdk_helpers import Recorder, make_client


async def _room(client, owner, visibility="public"):
    slug = unique("ty-")
    r = await client.post(
        "/rooms", headers=owner.headers, json={"slug": slug, "title": "T", "visibility": visibility}
    )
    assert r.status_code == 201, r.text
    return slug


async def test_typing_reaches_the_room_live_and_is_rate_limited(client, register, ws_url):
    alice, bob = await register(), await register()
    slug = await _room(client, alice)
    channel = f"typing:{slug}"
    async with (
        live(ws_url, alice, channel) as (_, arecs),
        live(ws_url, bob, channel) as (bob_ws, _),
    ):
        seen = arecs[channel]
        sub = bob_ws.get_subscription(channel)
        await sub.publish({"typing": True})
        await seen.wait_for(lambda: of_type(seen, "typing"))
        assert of_type(seen, "typing")[0] == {
            "type": "typing",
            "room": slug,
            "user": {"id": bob.id, "handle": bob.handle, "display_name": bob.handle},
            "typing": True,
            "expires_in": 6.0,
        }
        # Again at once: too soon (clients repeat every few seconds at most).
        with pytest.raises(ReplyError) as err:
            await sub.publish({"typing": True})
        assert err.value.code == 111
        # Stopping is always allowed.
        await sub.publish({"typing": False})
        await seen.wait_for(lambda: len(of_type(seen, "typing")) == 2)
        assert of_type(seen, "typing")[1]["typing"] is False
        assert of_type(seen, "typing")[1]["expires_in"] == 0
        # Bad data is a bad request.
        for bad in ({"typing": "yes"}, {"text": "hi"}, ["typing"]):
            with pytest.raises(ReplyError) as err:
                await sub.publish(bad)
            assert err.value.code == 107
        # Nothing is stored: the channel has no history to read or recover.
        with pytest.raises(ReplyError) as err:
            await sub.history(limit=10)
        assert err.value.code == 108
    # The room's message history has none of it either.
    assert (await client.get(f"/rooms/{slug}/messages")).json()["items"] == []


async def test_who_may_type_where(client, register, ws_url):
    owner, banned, outsider = await register(), await register(), await register()
    public = await _room(client, owner)
    private = await _room(client, owner, "private")
    await client.post(
        f"/rooms/{public}/bans", headers=owner.headers, json={"handle": banned.handle, "minutes": 5}
    )
    anon = make_client(ws_url)
    await anon.connect()
    try:
        # Anyone may watch a public room's typing, but only posters may type.
        sub = anon.new_subscription(f"typing:{public}", Recorder())
        await sub.subscribe()
        await sub.ready(5)
        with pytest.raises(ReplyError) as err:
            await sub.publish({"typing": True})
        assert err.value.code == 103
    finally:
        await anon.disconnect()
    c = make_client(ws_url, token=outsider.token)
    await c.connect()
    try:
        assert await subscribe_error(c, f"typing:{private}") == 103
        assert await subscribe_error(c, "typing:Not_A_Slug") == 102
    finally:
        await c.disconnect()
    b = make_client(ws_url, token=banned.token)
    await b.connect()
    try:
        # A banned user is out of the room's live channels.
        assert await subscribe_error(b, f"typing:{public}") == 103
    finally:
        await b.disconnect()
