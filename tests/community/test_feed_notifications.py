"""Feed fan-out and notifications end to end: REST, the arq worker, and live channels
(subscribed with the official centrifuge-python SDK)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hub.community import feed
from hub.platform.db import fetchrow
from tests.community.live import subscriber, until
from tests.prompts.helpers import assert_problem, create_prompt
from tests.realtime.sdk_helpers import Recorder, make_client


async def test_new_prompt_and_version_reach_followers_feed_live(client, register, ws_url):
    creator, fan, bystander = await register(), await register(), await register()
    await client.post(f"/creators/{creator.handle}/follow", headers=fan.headers)
    ws, rec = await subscriber(ws_url, fan.token, f"feed#{fan.id}")
    try:
        p = await create_prompt(client, creator, title="Fresh prompt", private_mode=True)

        async def feed_items(acct):
            r = await client.get("/me/feed", headers=acct.headers)
            assert r.status_code == 200, r.text
            return r.json()["items"]

        items = await until(lambda: feed_items(fan))
        assert items[0]["type"] == "prompt.created"
        assert items[0]["prompt"]["id"] == p["id"] and items[0]["version"] == 1
        assert items[0]["actor"]["handle"] == creator.handle
        assert "template" not in str(items[0])
        await rec.wait_for(lambda: len(rec.pubs) >= 1)
        live = rec.data()[0]
        assert live["type"] == "feed.item" and live["item"]["id"] == items[0]["id"]

        await client.patch(
            f"/prompts/{p['id']}", headers=creator.headers, json={"template": "New {{thing}}"}
        )
        items = await until(
            lambda: _with_len(feed_items(fan), 2),
        )
        assert [(i["type"], i["version"]) for i in items] == [
            ("prompt.version", 2),
            ("prompt.created", 1),
        ]
        await rec.wait_for(lambda: len(rec.pubs) >= 2)
        assert await feed_items(bystander) == []
        page1 = (await client.get("/me/feed", params={"limit": 1}, headers=fan.headers)).json()
        page2 = (
            await client.get(
                "/me/feed", params={"limit": 1, "cursor": page1["next_cursor"]}, headers=fan.headers
            )
        ).json()
        assert [i["id"] for i in page1["items"] + page2["items"]] == [i["id"] for i in items]

        # archiving hides the prompt's items
        await client.delete(f"/prompts/{p['id']}", headers=creator.headers)
        assert await feed_items(fan) == []
    finally:
        await ws.disconnect()


async def _with_len(coro, n):
    items = await coro
    return items if len(items) >= n else None


async def test_fanout_is_batched_and_idempotent(client, register, monkeypatch):
    creator = await register()
    fans = await asyncio.gather(*(register() for _ in range(5)))
    for f in fans:
        await client.post(f"/creators/{creator.handle}/follow", headers=f.headers)
    monkeypatch.setattr(feed, "FANOUT_BATCH", 2)
    p = await create_prompt(client, creator)

    async def delivered():
        row = await fetchrow(
            "SELECT count(*) AS n FROM feed_items WHERE prompt_id = $1::uuid", p["id"]
        )
        return row["n"] == 5

    await until(delivered)
    # a re-delivered batch (arq is at-least-once) inserts nothing new
    at = datetime.now(UTC)
    after = None
    while True:
        after = await feed.fanout_batch(p["id"], 1, at, after)
        if after is None:
            break
    row = await fetchrow("SELECT count(*) AS n FROM feed_items WHERE prompt_id = $1::uuid", p["id"])
    assert row["n"] == 5


async def test_new_follower_notification_with_unread_state(client, register, ws_url):
    creator, fan = await register(), await register()
    ws, rec = await subscriber(ws_url, creator.token, f"notifications#{creator.id}")
    try:
        await client.post(f"/creators/{creator.handle}/follow", headers=fan.headers)
        # unfollow + follow again does not notify twice
        await client.delete(f"/creators/{creator.handle}/follow", headers=fan.headers)
        await client.post(f"/creators/{creator.handle}/follow", headers=fan.headers)
        r = await client.get("/me/notifications", headers=creator.headers)
        body = r.json()
        assert body["unread_count"] == 1
        [note] = body["items"]
        assert note["type"] == "follower.new" and note["actor"]["handle"] == fan.handle
        assert note["read"] is False
        await rec.wait_for(lambda: len(rec.pubs) >= 1)
        live = rec.data()[0]
        assert live["type"] == "notification.created"
        assert live["notification"]["id"] == note["id"] and live["unread_count"] == 1
    finally:
        await ws.disconnect()

    r = await client.post(
        "/me/notifications/read", headers=creator.headers, json={"ids": [note["id"]]}
    )
    assert r.json() == {"updated": 1, "unread_count": 0}
    r = await client.post(
        "/me/notifications/read", headers=creator.headers, json={"ids": [note["id"]]}
    )
    assert r.json() == {"updated": 0, "unread_count": 0}
    assert (await client.get("/me/notifications?unread=true", headers=creator.headers)).json()[
        "items"
    ] == []
    read = (await client.get("/me/notifications?unread=false", headers=creator.headers)).json()
    assert [n["id"] for n in read["items"]] == [note["id"]] and read["items"][0]["read"]


async def test_review_notification_and_mark_all_read(client, register, grant_completed_run, ws_url):
    creator, buyer, other = await register(), await register(), await register()
    p = await create_prompt(client, creator)
    await grant_completed_run(buyer.id, p["id"])
    ws, rec = await subscriber(ws_url, "", f"prompts:{p['id']}")  # anonymous: public channel
    try:
        await client.post(f"/prompts/{p['id']}/reviews", headers=buyer.headers, json={"rating": 4})
        await client.post(f"/prompts/{p['id']}/reviews", headers=buyer.headers, json={"rating": 5})
        # The buyer's run also announces prompt.live_runs on this channel: look at reviews only.
        reviews = lambda: [d for d in rec.data() if d["type"].startswith("review.")]  # noqa: E731
        await rec.wait_for(lambda: len(reviews()) >= 2)
        created, updated = reviews()[:2]
        assert created["type"] == "review.created" and created["rating_count"] == 1
        assert updated["type"] == "review.updated" and updated["rating_avg"] == 5.0
    finally:
        await ws.disconnect()
    await client.post(f"/creators/{creator.handle}/follow", headers=other.headers)
    notes = (await client.get("/me/notifications", headers=creator.headers)).json()
    # Newest first: the follow, the review, and the sale of the buyer's paid run (25c, 80%).
    assert [n["type"] for n in notes["items"]] == ["follower.new", "review.new", "sale.earned"]
    follow_note, review_note, sale_note = notes["items"]
    assert review_note["prompt"]["id"] == p["id"] and review_note["rating"] == 5
    title = f"\u201c{p['title']}\u201d"
    assert follow_note["text"] == f"@{other.handle} followed you"
    assert follow_note["url"] == f"/creators/{other.handle}"
    assert follow_note["subject"] == {"type": "user", "id": other.id, "title": other.handle}
    assert review_note["text"] == f"@{buyer.handle} rated {title} 5 stars"
    assert review_note["url"] == f"/prompts/{p['id']}#reviews-h"
    assert review_note["subject"] == {"type": "prompt", "id": p["id"], "title": p["title"]}
    assert sale_note["text"] == f"You earned $0.20 from {title}"
    assert sale_note["url"] == "/dashboard" and sale_note["amount_cents"] == 20
    assert notes["unread_count"] == 3
    r = await client.post("/me/notifications/read", headers=creator.headers, json={"all": True})
    assert r.json() == {"updated": 3, "unread_count": 0}
    # someone else's ids are ignored, not revealed
    assert (
        await client.post(
            "/me/notifications/read", headers=other.headers, json={"ids": [review_note["id"]]}
        )
    ).json()["updated"] == 0


async def test_notifications_and_feed_bad_input(client, register, ws_url):
    me, other = await register(), await register()
    assert_problem(await client.post("/me/notifications/read", headers=me.headers, json={}), 400)
    assert_problem(
        await client.post("/me/notifications/read", headers=me.headers, json={"ids": ["nope"]}),
        400,
        "ids",
    )
    assert_problem(
        await client.post("/me/notifications/read", headers=me.headers, json={"ids": ["x"] * 101}),
        400,
        "ids",
    )
    assert_problem(await client.get("/me/notifications?unread=maybe", headers=me.headers), 400)
    assert_problem(await client.get("/me/feed?limit=101", headers=me.headers), 400, "limit")
    assert_problem(await client.get("/me/feed?cursor=garbage", headers=me.headers), 400, "cursor")
    assert_problem(await client.get("/me/feed"), 401)
    assert_problem(await client.get("/me/notifications"), 401)
    # another user's private channels are refused
    ws = make_client(ws_url, token=me.token)
    await ws.connect()
    try:
        rec = Recorder()
        sub = ws.new_subscription(f"notifications#{other.id}", rec)
        await sub.subscribe()
        await rec.wait_for(lambda: rec.errors or rec.unsubscribed)
    finally:
        await ws.disconnect()


async def test_followers_hear_of_a_new_prompt_and_read_state_reaches_every_tab(
    client, register, ws_url
):
    creator, fan = await register(), await register()
    await client.post(f"/creators/{creator.handle}/follow", headers=fan.headers)
    tab1, rec1 = await subscriber(ws_url, fan.token, f"notifications#{fan.id}")
    tab2, rec2 = await subscriber(ws_url, fan.token, f"notifications#{fan.id}")
    try:
        p = await create_prompt(client, creator, title="Cold email v2")
        await rec1.wait_for(lambda: any(d["type"] == "notification.created" for d in rec1.data()))
        [created] = [d for d in rec1.data() if d["type"] == "notification.created"]
        note = created["notification"]
        assert note["type"] == "prompt.published" and created["unread_count"] == 1
        assert note["text"] == f"@{creator.handle} published \u201cCold email v2\u201d"
        assert note["url"] == f"/prompts/{p['id']}"
        assert note["subject"] == {"type": "prompt", "id": p["id"], "title": "Cold email v2"}
        assert note["actor"]["handle"] == creator.handle
        # A new version tells them again, with its number.
        r = await client.patch(
            f"/prompts/{p['id']}", headers=creator.headers, json={"template": "New {{topic}}"}
        )
        assert r.status_code == 200, r.text
        await rec1.wait_for(
            lambda: len([d for d in rec1.data() if d["type"] == "notification.created"]) == 2
        )
        page = (await client.get("/me/notifications", headers=fan.headers)).json()
        assert [n["text"] for n in page["items"]] == [
            f"@{creator.handle} released version 2 of \u201cCold email v2\u201d",
            f"@{creator.handle} published \u201cCold email v2\u201d",
        ]
        assert page["items"][0]["version"] == 2 and page["unread_count"] == 2
        # Reading one in one tab reaches the other tab with the new count.
        r = await client.post(
            "/me/notifications/read", headers=fan.headers, json={"ids": [note["id"]]}
        )
        assert r.json() == {"updated": 1, "unread_count": 1}
        await rec2.wait_for(lambda: any(d["type"] == "notifications.read" for d in rec2.data()))
        [read] = [d for d in rec2.data() if d["type"] == "notifications.read"]
        assert read == {
            "type": "notifications.read",
            "ids": [note["id"]],
            "all": False,
            "unread_count": 1,
        }
        await client.post("/me/notifications/read", headers=fan.headers, json={"all": True})
        await rec2.wait_for(
            lambda: (
                [d["unread_count"] for d in rec2.data() if d["type"] == "notifications.read"]
                == [1, 0]
            )
        )
        # Nothing changed: nothing is published.
        await client.post("/me/notifications/read", headers=fan.headers, json={"all": True})
        assert len([d for d in rec2.data() if d["type"] == "notifications.read"]) == 2
    finally:
        await tab1.disconnect()
        await tab2.disconnect()


async def test_a_creators_followers_are_listed_newest_first(client, register):
    creator, first, second = await register(), await register(), await register()
    for fan in (first, second):
        await client.post(f"/creators/{creator.handle}/follow", headers=fan.headers)
    page = (await client.get(f"/creators/{creator.handle}/followers")).json()
    assert [f["handle"] for f in page["items"]] == [second.handle, first.handle]
    assert page["items"][0]["followed_at"] and page["next_cursor"] is None
    one = (await client.get(f"/creators/{creator.handle}/followers?limit=1")).json()
    rest = (
        await client.get(
            f"/creators/{creator.handle}/followers?limit=1&cursor={one['next_cursor']}"
        )
    ).json()
    assert [f["handle"] for f in one["items"] + rest["items"]] == [second.handle, first.handle]
    assert_problem(await client.get("/creators/nobody_here_x/followers"), 404)
    assert_problem(
        await client.get(f"/creators/{creator.handle}/followers?cursor=bogus"), 400, "cursor"
    )
