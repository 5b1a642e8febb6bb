"""Unread counts per room and "last read" markers, updated live: REST and two users over the
official centrifuge-python SDK (the reader on two devices)."""

from __future__ import annotations

from hub.platform.db import fetch
from tests.community.live import live, of_type
from tests.conftest import unique
from tests.problems import assert_problem


async def _room(client, owner, visibility="public"):
    slug = unique("rd-")
    r = await client.post(
        "/rooms", headers=owner.headers, json={"slug": slug, "title": "R", "visibility": visibility}
    )
    assert r.status_code == 201, r.text
    return slug


async def _post(client, who, slug, text):
    r = await client.post(f"/rooms/{slug}/messages", headers=who.headers, json={"text": text})
    assert r.status_code == 201, r.text
    return r.json()


async def _read(client, who, slug, message_id=None):
    body = {} if message_id is None else {"message_id": message_id}
    return await client.post(f"/rooms/{slug}/read", headers=who.headers, json=body)


async def test_unread_counts_follow_messages_and_markers_live(client, register, ws_url):
    alice, bob = await register(), await register()
    slug = await _room(client, alice)
    r = await _read(client, bob, slug)  # Bob opens the room: he follows its count from now
    assert r.status_code == 200, r.text
    assert r.json() == {
        "room": slug,
        "unread_count": 0,
        "last_read_at": r.json()["last_read_at"],
        "last_read_message_id": None,
    }
    inbox = f"notifications#{bob.id}"
    async with (
        live(ws_url, bob, inbox) as (_, phone),
        live(ws_url, bob, inbox) as (_, laptop),
    ):
        ph, lap = phone[inbox], laptop[inbox]
        sent = [await _post(client, alice, slug, f"m{i}") for i in range(3)]
        await ph.wait_for(
            lambda: any(e["unread_count"] == 3 for e in of_type(ph, "room.unread")), within=10
        )
        last = of_type(ph, "room.unread")[-1]
        assert last["room"] == slug and last["last_message"]["id"] == sent[2]["id"]
        assert last["last_message"]["author"]["handle"] == alice.handle
        room = (await client.get(f"/rooms/{slug}", headers=bob.headers)).json()
        assert room["unread_count"] == 3 and room["typing_channel"] == f"typing:{slug}"

        # Reading on the phone clears the laptop's badge too.
        r = await _read(client, bob, slug, sent[1]["id"])
        assert r.json()["unread_count"] == 1
        assert r.json()["last_read_message_id"] == sent[1]["id"]
        await lap.wait_for(lambda: of_type(lap, "room.read"))
        assert of_type(lap, "room.read")[-1] == {
            "type": "room.read",
            "room": slug,
            "unread_count": 1,
            "last_read_at": r.json()["last_read_at"],
            "last_read_message_id": sent[1]["id"],
        }

    # The marker never moves back.
    r = await _read(client, bob, slug, sent[0]["id"])
    assert r.json()["unread_count"] == 1 and r.json()["last_read_message_id"] == sent[1]["id"]
    # My own messages and deleted ones are not unread.
    await _post(client, bob, slug, "mine")  # posting also reads up to it
    assert (await client.get(f"/rooms/{slug}", headers=bob.headers)).json()["unread_count"] == 0
    late = await _post(client, alice, slug, "oops")
    assert (await client.get(f"/rooms/{slug}", headers=bob.headers)).json()["unread_count"] == 1
    await client.delete(f"/rooms/{slug}/messages/{late['id']}", headers=alice.headers)
    assert (await client.get(f"/rooms/{slug}", headers=bob.headers)).json()["unread_count"] == 0


async def test_my_rooms_lists_what_i_follow_newest_activity_first(client, register):
    alice, bob = await register(), await register()
    quiet, busy = await _room(client, alice), await _room(client, alice)
    private = await _room(client, alice, "private")
    await client.post(
        f"/rooms/{private}/members", headers=alice.headers, json={"handle": bob.handle}
    )
    await _read(client, bob, quiet)
    await _read(client, bob, busy)
    await _post(client, alice, private, "psst")
    await _post(client, alice, busy, "news")
    mine = (await client.get("/me/rooms", headers=bob.headers)).json()["items"]
    assert [(r["slug"], r["unread_count"]) for r in mine[:3]] == [
        (busy, 1),
        (private, 1),  # a member follows a private room without opening it
        (quiet, 0),
    ]
    assert mine[0]["last_message"]["text"] == "news"
    page1 = (await client.get("/me/rooms", headers=bob.headers, params={"limit": 2})).json()
    page2 = (
        await client.get(
            "/me/rooms", headers=bob.headers, params={"limit": 2, "cursor": page1["next_cursor"]}
        )
    ).json()
    assert [r["slug"] for r in page1["items"] + page2["items"]][:3] == [busy, private, quiet]
    # Removed from the private room: it is no longer Bob's, and its count is gone.
    await client.delete(f"/rooms/{private}/members/{bob.handle}", headers=alice.headers)
    assert private not in [
        r["slug"] for r in (await client.get("/me/rooms", headers=bob.headers)).json()["items"]
    ]
    assert (await client.get("/me/rooms", headers=alice.headers)).status_code == 200
    assert_problem(await client.get("/me/rooms"), 401)
    # GDPR: the markers are in the export and go with the account.
    export = (await client.get("/me/export", headers=bob.headers)).json()["rooms"]
    assert {m["slug"] for m in export["read_markers"]} == {quiet, busy}
    assert (await client.delete("/me", headers=bob.headers)).status_code == 204
    assert await fetch("SELECT 1 FROM room_reads WHERE user_id = $1::uuid", bob.id) == []


async def test_bad_read_markers(client, register):
    alice, bob = await register(), await register()
    slug, other = await _room(client, alice), await _room(client, alice)
    foreign = await _post(client, alice, other, "elsewhere")
    assert_problem(await _read(client, bob, slug, foreign["id"]), 404)
    assert_problem(await _read(client, bob, slug, "not-an-id"), 404)
    private = await _room(client, alice, "private")
    assert_problem(await _read(client, bob, private), 404)
    assert_problem(await client.post(f"/rooms/{slug}/read", json={}), 401)
    assert_problem(
        await client.post(f"/rooms/{slug}/read", headers=bob.headers, json={"upto": 1}), 400
    )
