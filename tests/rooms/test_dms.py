"""Direct messages: a private two-person room created by the first message, listed in my rooms,
and blocking; REST and two users live over the official centrifuge-python SDK."""

from __future__ import annotations

import asyncio

import pytest
from centrifuge.exceptions import ReplyError

from tests.community.live import live, of_type, subscribe_error, until, with_role
from tests.conftest import unique
from tests.problems import assert_problem
from tests.realtime.sdk_helpers import make_client


async def _dm(client, sender, to, text):
    return await client.post(
        "/me/dms", headers=sender.headers, json={"handle": to.handle, "text": text}
    )


async def _my_rooms(client, account):
    r = await client.get("/me/rooms", headers=account.headers, params={"limit": 100})
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_first_message_creates_the_conversation_and_both_talk_live(client, register, ws_url):
    alice, bob = await register(), await register()
    inbox = f"notifications#{bob.id}"
    async with live(ws_url, bob, inbox) as (bob_ws, recs):
        bob_notes = recs[inbox]
        r = await _dm(client, alice, bob, "hi bob")
        assert r.status_code == 201, r.text
        room = r.json()["room"]
        assert room["slug"].startswith("dm-") and room["kind"] == "dm"
        assert room["visibility"] == "private" and room["title"] == f"@{bob.handle}"
        assert room["peer"]["handle"] == bob.handle and room["is_member"] is True
        assert r.json()["message"]["text"] == "hi bob"
        slug = room["slug"]

        # Bob is told of the new conversation, and of its unread count, live.
        await bob_notes.wait_for(
            lambda: of_type(bob_notes, "notification.created") and of_type(bob_notes, "room.unread")
        )
        note = of_type(bob_notes, "notification.created")[0]["notification"]
        assert (
            note["type"] == "dm.new"
            and note["text"] == f"@{alice.handle} sent you a direct message"
        )
        assert note["url"] == f"/chat/{slug}" and note["room"] == slug
        unread = of_type(bob_notes, "room.unread")[-1]
        assert unread["room"] == slug and unread["unread_count"] == 1
        assert unread["last_message"]["text"] == "hi bob"

        # Listed in Bob's rooms, titled by Alice.
        [mine] = [x for x in await _my_rooms(client, bob) if x["slug"] == slug]
        assert mine["title"] == f"@{alice.handle}" and mine["peer"]["handle"] == alice.handle
        assert mine["unread_count"] == 1 and mine["last_message"]["text"] == "hi bob"

        # Bob answers through the room's channel; Alice, subscribed, gets it.
        async with live(ws_url, alice, f"rooms:{slug}") as (_, arecs):
            alice_room = arecs[f"rooms:{slug}"]
            sub = bob_ws.new_subscription(f"rooms:{slug}")
            await sub.subscribe()
            await sub.ready(5)
            await sub.publish({"text": "hi alice"})
            await alice_room.wait_for(lambda: of_type(alice_room, "room.message"))
            assert of_type(alice_room, "room.message")[0]["text"] == "hi alice"

    # Either side writing again reaches the same room; nobody is told "new" twice.
    again = await _dm(client, bob, alice, "same room?")
    assert again.status_code == 201 and again.json()["room"]["slug"] == slug
    history = (await client.get(f"/rooms/{slug}/messages", headers=alice.headers)).json()
    assert [m["text"] for m in history["items"]] == ["same room?", "hi alice", "hi bob"]
    alice_notes = (await client.get("/me/notifications", headers=alice.headers)).json()
    assert [n for n in alice_notes["items"] if n["type"] == "dm.new"] == []


async def test_only_the_two_may_read_not_even_moderators(client, register, ws_url):
    alice, bob, carol = await register(), await register(), await register()
    moderator = await with_role(client, await register(), "moderator")
    slug = (await _dm(client, alice, bob, "private")).json()["room"]["slug"]
    for outsider in (carol, moderator):
        assert_problem(await client.get(f"/rooms/{slug}", headers=outsider.headers), 404)
        assert_problem(await client.get(f"/rooms/{slug}/messages", headers=outsider.headers), 404)
    assert_problem(await client.get(f"/rooms/{slug}/messages"), 404)
    c = make_client(ws_url, token=carol.token)
    await c.connect()
    try:
        assert await subscribe_error(c, f"rooms:{slug}") == 103
    finally:
        await c.disconnect()
    # Listed for the two, not for others.
    assert slug not in [
        x["slug"] for x in (await client.get("/rooms", headers=carol.headers)).json()["items"]
    ]
    listed = (await client.get("/rooms", headers=alice.headers, params={"limit": 100})).json()
    assert [x["title"] for x in listed["items"] if x["slug"] == slug] == [f"@{bob.handle}"]
    # Two people, no more, no less; the prefix is reserved.
    assert_problem(
        await client.post(
            f"/rooms/{slug}/members", headers=alice.headers, json={"handle": carol.handle}
        ),
        409,
    )
    assert_problem(
        await client.delete(f"/rooms/{slug}/members/{alice.handle}", headers=alice.headers), 409
    )
    assert_problem(
        await client.post("/rooms", headers=alice.headers, json={"slug": "dm-mine", "title": "x"}),
        409,
    )


async def test_blocking_stops_direct_messages_both_ways(client, register, ws_url):
    alice, bob = await register(), await register()
    slug = (await _dm(client, alice, bob, "hello")).json()["room"]["slug"]
    assert (
        await client.post("/me/blocks", headers=bob.headers, json={"handle": alice.handle})
    ).status_code == 201
    assert_problem(await _dm(client, alice, bob, "why?"), 403)
    assert_problem(
        await client.post(f"/rooms/{slug}/messages", headers=alice.headers, json={"text": "x"}),
        403,
    )
    assert_problem(await _dm(client, bob, alice, "bye"), 403)
    c = make_client(ws_url, token=alice.token)
    await c.connect()
    try:
        sub = c.new_subscription(f"rooms:{slug}")
        await sub.subscribe()
        await sub.ready(5)
        with pytest.raises(ReplyError) as err:
            await sub.publish({"text": "let me in"})
        assert err.value.code == 103
    finally:
        await c.disconnect()
    # The history stays readable to both; unblocking lets them talk again.
    assert (await client.get(f"/rooms/{slug}/messages", headers=alice.headers)).status_code == 200
    await client.delete(f"/me/blocks/{alice.handle}", headers=bob.headers)
    assert (await _dm(client, alice, bob, "friends again")).status_code == 201


async def test_bad_direct_messages(client, register):
    alice = await register()
    assert_problem(await client.post("/me/dms", json={"handle": "x", "text": "y"}), 401)
    assert_problem(
        await client.post(
            "/me/dms", headers=alice.headers, json={"handle": alice.handle, "text": "me"}
        ),
        422,
        "handle",
    )
    assert_problem(
        await client.post(
            "/me/dms", headers=alice.headers, json={"handle": unique("nobody"), "text": "hi"}
        ),
        404,
    )
    bob = await register()
    assert_problem(
        await client.post(
            "/me/dms", headers=alice.headers, json={"handle": bob.handle, "text": ""}
        ),
        400,
        "text",
    )
    # Nothing was created by the refused message.
    assert [x for x in await _my_rooms(client, alice) if x["kind"] == "dm"] == []


async def test_both_writing_first_at_once_make_one_room(client, register):
    alice, bob = await register(), await register()
    a, b = await asyncio.gather(_dm(client, alice, bob, "hey"), _dm(client, bob, alice, "hey"))
    assert a.status_code == b.status_code == 201, (a.text, b.text)
    assert a.json()["room"]["slug"] == b.json()["room"]["slug"]
    rooms = await until(lambda: _dms_of(client, alice))
    assert len(rooms) == 1


async def _dms_of(client, account):
    return [x for x in await _my_rooms(client, account) if x["kind"] == "dm"]
