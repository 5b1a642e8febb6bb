"""Chat rooms over REST: visibility, posting rules, bans, moderation, pagination."""

from __future__ import annotations

import asyncio

from tests.accounts.test_auth import assert_problem
from tests.community.live import subscriber
from tests.conftest import unique


async def test_lobby_exists_and_is_public(client):
    r = await client.get("/rooms/lobby")
    assert r.status_code == 200, r.text
    assert r.json()["channel"] == "rooms:lobby" and r.json()["visibility"] == "public"
    listing = await client.get("/rooms", params={"limit": 100})
    assert any(room["slug"] == "lobby" for room in listing.json()["items"])


async def test_post_and_read_messages_newest_first_with_cursor(client, register):
    owner = await register()
    slug = unique("r-")
    r = await client.post(
        "/rooms", headers=owner.headers, json={"slug": slug, "title": "Test room"}
    )
    assert r.status_code == 201, r.text
    member = await register()
    texts = [f"message {i}" for i in range(5)]
    for text in texts:
        r = await client.post(
            f"/rooms/{slug}/messages", headers=member.headers, json={"text": text}
        )
        assert r.status_code == 201, r.text
        assert r.json()["author"]["handle"] == member.handle
    page1 = (await client.get(f"/rooms/{slug}/messages", params={"limit": 3})).json()
    assert [m["text"] for m in page1["items"]] == texts[::-1][:3]
    page2 = (
        await client.get(
            f"/rooms/{slug}/messages", params={"limit": 3, "cursor": page1["next_cursor"]}
        )
    ).json()
    assert [m["text"] for m in page2["items"]] == texts[::-1][3:]
    assert page2["next_cursor"] is None
    assert_problem(
        await client.get(f"/rooms/{slug}/messages", params={"cursor": "garbage"}), 400, "cursor"
    )


async def test_message_validation_and_auth(client, register):
    user = await register()
    assert_problem(await client.post("/rooms/lobby/messages", json={"text": "hi"}), 401)
    assert_problem(
        await client.post("/rooms/lobby/messages", headers=user.headers, json={"text": ""}),
        400,
        "text",
    )
    assert_problem(
        await client.post("/rooms/lobby/messages", headers=user.headers, json={"text": "x" * 2001}),
        400,
        "text",
    )
    assert_problem(
        await client.post("/rooms/lobby/messages", headers=user.headers, json={"text": 5}),
        400,
        "text",
    )
    assert_problem(
        await client.post("/rooms/lobby/messages", headers=user.headers, json={"text": "   "}),
        400,
        "text",
    )
    html = "<script>alert(1)</script>"
    r = await client.post("/rooms/lobby/messages", headers=user.headers, json={"text": html})
    assert (
        r.status_code == 201 and r.json()["text"] == html
    )  # stored as text; the client renders it as text


async def test_private_room_is_invisible_to_outsiders(client, register):
    owner, outsider, friend = await register(), await register(), await register()
    slug = unique("p-")
    r = await client.post(
        "/rooms",
        headers=owner.headers,
        json={"slug": slug, "title": "Secret", "visibility": "private"},
    )
    assert r.status_code == 201
    for who in (None, outsider):
        headers = who.headers if who else {}
        assert_problem(await client.get(f"/rooms/{slug}", headers=headers), 404)
        assert_problem(await client.get(f"/rooms/{slug}/messages", headers=headers), 404)
    assert_problem(
        await client.post(f"/rooms/{slug}/messages", headers=outsider.headers, json={"text": "hi"}),
        404,
    )
    listing = (await client.get("/rooms", headers=outsider.headers, params={"limit": 100})).json()
    assert slug not in [room["slug"] for room in listing["items"]]
    # The owner adds a member, who can then read and post.
    assert (
        await client.post(
            f"/rooms/{slug}/members", headers=owner.headers, json={"handle": friend.handle}
        )
    ).status_code == 204
    assert (
        await client.post(f"/rooms/{slug}/messages", headers=friend.headers, json={"text": "hello"})
    ).status_code == 201
    assert (await client.get(f"/rooms/{slug}", headers=friend.headers)).json()["is_member"] is True
    assert_problem(
        await client.post(
            f"/rooms/{slug}/members", headers=friend.headers, json={"handle": outsider.handle}
        ),
        403,
    )


async def test_ban_blocks_posting_and_only_owner_or_moderator_may_ban(client, register):
    owner, troll, other = await register(), await register(), await register()
    slug = unique("b-")
    await client.post("/rooms", headers=owner.headers, json={"slug": slug, "title": "Banning"})
    assert_problem(
        await client.post(
            f"/rooms/{slug}/bans", headers=other.headers, json={"handle": troll.handle}
        ),
        403,
    )
    r = await client.post(
        f"/rooms/{slug}/bans", headers=owner.headers, json={"handle": troll.handle, "minutes": 5}
    )
    assert r.status_code == 201 and r.json()["handle"] == troll.handle
    body = assert_problem(
        await client.post(f"/rooms/{slug}/messages", headers=troll.headers, json={"text": "spam"}),
        403,
    )
    assert "banned" in body["detail"]
    assert (
        await client.post(f"/rooms/{slug}/messages", headers=other.headers, json={"text": "ok"})
    ).status_code == 201
    assert_problem(
        await client.post(
            f"/rooms/{slug}/bans", headers=owner.headers, json={"handle": owner.handle}
        ),
        409,
    )
    assert_problem(
        await client.post(
            f"/rooms/{slug}/bans",
            headers=owner.headers,
            json={"handle": troll.handle, "minutes": 0},
        ),
        400,
        "minutes",
    )


async def test_delete_message_permissions(client, register):
    owner, author, other = await register(), await register(), await register()
    slug = unique("d-")
    await client.post("/rooms", headers=owner.headers, json={"slug": slug, "title": "Deleting"})
    m1 = (
        await client.post(f"/rooms/{slug}/messages", headers=author.headers, json={"text": "one"})
    ).json()
    m2 = (
        await client.post(f"/rooms/{slug}/messages", headers=author.headers, json={"text": "two"})
    ).json()
    assert_problem(
        await client.delete(f"/rooms/{slug}/messages/{m1['id']}", headers=other.headers), 403
    )
    assert (
        await client.delete(f"/rooms/{slug}/messages/{m1['id']}", headers=author.headers)
    ).status_code == 204
    assert (
        await client.delete(f"/rooms/{slug}/messages/{m2['id']}", headers=owner.headers)
    ).status_code == 204
    assert_problem(
        await client.delete(f"/rooms/{slug}/messages/{m2['id']}", headers=owner.headers), 404
    )
    assert_problem(
        await client.delete(f"/rooms/{slug}/messages/not-a-uuid", headers=owner.headers), 404
    )
    assert (await client.get(f"/rooms/{slug}/messages")).json()["items"] == []


async def test_posting_is_rate_limited(client, register):
    user = await register()
    slug = unique("rl-")
    await client.post("/rooms", headers=user.headers, json={"slug": slug, "title": "Rate"})
    results = await asyncio.gather(
        *[
            client.post(f"/rooms/{slug}/messages", headers=user.headers, json={"text": f"m{i}"})
            for i in range(14)
        ]
    )
    codes = [r.status_code for r in results]
    assert codes.count(201) == 10 and codes.count(429) == 4
    limited = next(r for r in results if r.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1


async def test_creator_room_is_implicit_and_slugs_are_validated(client, register):
    creator = await register()
    r = await client.get(f"/rooms/creator-{creator.handle.lower()}")
    assert (
        r.status_code == 200
        and r.json()["kind"] == "creator"
        and r.json()["owner_handle"] == creator.handle
    )
    assert_problem(await client.get("/rooms/creator-nobody-here-xyz"), 404)
    assert_problem(
        await client.post(
            "/rooms", headers=creator.headers, json={"slug": "creator-x", "title": "t"}
        ),
        409,
    )
    assert_problem(
        await client.post("/rooms", headers=creator.headers, json={"slug": "lobby", "title": "t"}),
        409,
    )
    assert_problem(
        await client.post(
            "/rooms", headers=creator.headers, json={"slug": "Bad Slug!", "title": "t"}
        ),
        400,
        "slug",
    )
    slug = unique("dup-")
    assert (
        await client.post("/rooms", headers=creator.headers, json={"slug": slug, "title": "t"})
    ).status_code == 201
    assert_problem(
        await client.post("/rooms", headers=creator.headers, json={"slug": slug, "title": "t"}), 409
    )


async def test_author_edits_a_message_and_the_room_hears_it(client, register, ws_url):
    owner, author, other = await register(), await register(), await register()
    slug = unique("r-")
    r = await client.post("/rooms", headers=owner.headers, json={"slug": slug, "title": "Edits"})
    assert r.status_code == 201, r.text
    msg = (
        await client.post(f"/rooms/{slug}/messages", headers=author.headers, json={"text": "helo"})
    ).json()
    assert msg["edited_at"] is None
    ws, rec = await subscriber(ws_url, "", f"rooms:{slug}")
    try:
        r = await client.patch(
            f"/rooms/{slug}/messages/{msg['id']}", headers=author.headers, json={"text": "hello"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["text"] == "hello" and r.json()["edited_at"]
        await rec.wait_for(lambda: any(d["type"] == "room.message_edited" for d in rec.data()))
        [edited] = [d for d in rec.data() if d["type"] == "room.message_edited"]
        assert edited["id"] == msg["id"] and edited["text"] == "hello"
    finally:
        await ws.disconnect()
    history = (await client.get(f"/rooms/{slug}/messages")).json()["items"]
    assert history[0]["text"] == "hello" and history[0]["edited_at"]
    # Only the author edits: not the room owner, not anyone else.
    for who in (owner, other):
        assert_problem(
            await client.patch(
                f"/rooms/{slug}/messages/{msg['id']}", headers=who.headers, json={"text": "x"}
            ),
            403,
        )
    assert_problem(
        await client.patch(
            f"/rooms/{slug}/messages/{msg['id']}", headers=author.headers, json={"text": " "}
        ),
        400,
    )
    assert_problem(
        await client.patch(
            f"/rooms/{slug}/messages/not-an-id", headers=author.headers, json={"text": "x"}
        ),
        404,
    )


async def test_routes_open_to_anonymous_visitors_still_refuse_a_bad_token(client, register):
    """The `viewer` dependency: no token is an anonymous visitor, a valid one is the user
    (a private room they belong to is listed), a broken or revoked one is a 401 that says to
    refresh, never a silent downgrade to anonymous."""
    owner = await register()
    slug = unique("v-")
    r = await client.post(
        "/rooms",
        headers=owner.headers,
        json={"slug": slug, "title": "Mine", "visibility": "private"},
    )
    assert r.status_code == 201, r.text
    anonymous = await client.get(f"/rooms/{slug}")
    assert_problem(anonymous, 404)
    assert (await client.get(f"/rooms/{slug}", headers=owner.headers)).json()["slug"] == slug
    for path in ("/rooms", f"/rooms/{slug}", f"/rooms/{slug}/messages"):
        bad = await client.get(path, headers={"Authorization": "Bearer not-a-token"})
        assert_problem(bad, 401)
        assert "Invalid or revoked access token" in bad.json()["detail"]
        wrong_scheme = await client.get(path, headers={"Authorization": "Basic abc"})
        assert_problem(wrong_scheme, 401)
