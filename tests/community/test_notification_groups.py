"""Notifications grouped in bursts, settings per kind, and blocking: REST and two users live
over the official centrifuge-python SDK."""

from __future__ import annotations

import asyncio

from hub.platform.db import fetch
from tests.community.live import live, of_type, until
from tests.prompts.helpers import assert_problem, create_prompt


async def _notes(client, account, **params):
    r = await client.get("/me/notifications", headers=account.headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_burst_of_follows_is_one_item_that_grows_live(client, register, ws_url):
    creator = await register()
    fans = [await register() for _ in range(5)]
    channel = f"notifications#{creator.id}"
    async with live(ws_url, creator, channel) as (_, recs):
        rec = recs[channel]
        for fan in fans:
            r = await client.post(f"/creators/{creator.handle}/follow", headers=fan.headers)
            assert r.status_code == 200, r.text
        await rec.wait_for(lambda: len(of_type(rec, "notification.updated")) >= 4)
        created = of_type(rec, "notification.created")
        assert len(created) == 1 and created[0]["notification"]["text"] == (
            f"@{fans[0].handle} followed you"
        )
        last = of_type(rec, "notification.updated")[-1]
        assert last["notification"]["id"] == created[0]["notification"]["id"]
        assert last["notification"]["text"] == f"@{fans[4].handle} and 4 others followed you"
        assert last["unread_count"] == 1

    page = await _notes(client, creator)
    assert page["unread_count"] == 1
    [item] = page["items"]
    assert item["type"] == "follower.new" and item["count"] == 5
    assert item["text"] == f"@{fans[4].handle} and 4 others followed you"
    assert [a["handle"] for a in item["actors"]] == [f.handle for f in fans[:1:-1]]
    assert item["url"] == f"/creators/{fans[4].handle}"
    assert item["last_at"] >= item["created_at"]

    # Reading the group reads all of it; the next follow starts a new item.
    r = await client.post(
        "/me/notifications/read", headers=creator.headers, json={"ids": [item["id"]]}
    )
    assert r.json() == {"updated": 1, "unread_count": 0}
    late = await register()
    await client.post(f"/creators/{creator.handle}/follow", headers=late.headers)
    page = await _notes(client, creator)
    assert page["unread_count"] == 1
    assert [(i["count"], i["read"]) for i in page["items"]] == [(1, False), (5, True)]
    assert page["items"][0]["text"] == f"@{late.handle} followed you"


async def test_a_group_closes_after_the_window(client, register):
    creator, first, second = await register(), await register(), await register()
    await client.post(f"/creators/{creator.handle}/follow", headers=first.headers)
    # The first follow happened two hours ago: outside the one-hour window.
    await fetch(
        "UPDATE notifications SET created_at = now() - interval '2 hours', "
        "last_at = now() - interval '2 hours' WHERE user_id = $1::uuid",
        creator.id,
    )
    await client.post(f"/creators/{creator.handle}/follow", headers=second.headers)
    page = await _notes(client, creator)
    assert [i["text"] for i in page["items"]] == [
        f"@{second.handle} followed you",
        f"@{first.handle} followed you",
    ]
    assert page["unread_count"] == 2


async def test_reviews_of_one_prompt_group_and_others_do_not(client, register, grant_completed_run):
    creator, a, b = await register(), await register(), await register()
    p1 = await create_prompt(client, creator, title="First")
    p2 = await create_prompt(client, creator, title="Second")
    for user in (a, b):
        await grant_completed_run(user.id, p1["id"])
    await grant_completed_run(a.id, p2["id"])
    for user, prompt in ((a, p1), (b, p1), (a, p2)):
        r = await client.post(
            f"/prompts/{prompt['id']}/reviews", headers=user.headers, json={"rating": 4}
        )
        assert r.status_code == 201, r.text
    items = (await _notes(client, creator))["items"]
    reviews = [i for i in items if i["type"] == "review.new"]
    assert [i["text"] for i in reviews] == [
        f"@{a.handle} rated \u201cSecond\u201d 4 stars",
        f"@{b.handle} and 1 other reviewed \u201cFirst\u201d",
    ]


async def test_settings_per_kind(client, register, ws_url):
    me, fan, other_fan = await register(), await register(), await register()
    r = await client.get("/me/notification-settings", headers=me.headers)
    assert r.status_code == 200, r.text
    settings = r.json()
    assert settings["email_digest"] is True
    assert settings["types"]["follower.new"] == {
        "in_app": True,
        "email": True,
        "label": "Someone follows you",
    }
    assert {"mention", "dm.new", "sale.earned", "report.resolved"} <= set(settings["types"])

    channel = f"notifications#{me.id}"
    async with live(ws_url, me, channel) as (_, recs):
        rec = recs[channel]
        r = await client.patch(
            "/me/notification-settings",
            headers=me.headers,
            json={"types": {"follower.new": {"in_app": False}}},
        )
        assert r.status_code == 200, r.text
        assert r.json()["types"]["follower.new"]["in_app"] is False
        assert r.json()["types"]["follower.new"]["email"] is True
        # Every open tab hears of it.
        await rec.wait_for(lambda: of_type(rec, "notification_settings.updated"))
        await client.post(f"/creators/{me.handle}/follow", headers=fan.headers)
        # Nothing listed, counted or pushed; the follow itself happened.
        assert (await client.get(f"/creators/{me.handle}")).json()["follower_count"] == 1
        assert (await _notes(client, me))["items"] == []
        # Turning it back on applies from now on.
        await client.patch(
            "/me/notification-settings",
            headers=me.headers,
            json={"types": {"follower.new": {"in_app": True}}},
        )
        await client.post(f"/creators/{me.handle}/follow", headers=other_fan.headers)
        await rec.wait_for(lambda: of_type(rec, "notification.created"))
        assert [
            d["notification"]["actor"]["handle"] for d in of_type(rec, "notification.created")
        ] == [other_fan.handle]
    stored = await fetch(
        "SELECT in_app FROM notifications WHERE user_id = $1::uuid ORDER BY created_at", me.id
    )
    assert [r["in_app"] for r in stored] == [False, True]  # kept for the email digest

    # Both off: not even stored.
    await client.patch(
        "/me/notification-settings",
        headers=me.headers,
        json={"types": {"follower.new": {"in_app": False, "email": False}}, "email_digest": False},
    )
    third = await register()
    await client.post(f"/creators/{me.handle}/follow", headers=third.headers)
    assert len(await fetch("SELECT 1 FROM notifications WHERE user_id = $1::uuid", me.id)) == 2
    got = (await client.get("/me/notification-settings", headers=me.headers)).json()
    assert got["email_digest"] is False
    assert got["types"]["follower.new"]["email"] is False
    assert got["types"]["review.new"] == {
        "in_app": True,
        "email": True,
        "label": "Someone reviews one of your prompts",
    }

    assert_problem(
        await client.patch(
            "/me/notification-settings",
            headers=me.headers,
            json={"types": {"nonsense": {"in_app": False}}},
        ),
        400,
        "types",
    )
    assert_problem(
        await client.patch(
            "/me/notification-settings",
            headers=me.headers,
            json={"types": {"mention": {"push": False}}},
        ),
        400,
        "push",
    )
    assert_problem(await client.get("/me/notification-settings"), 401)


async def test_blocking_ends_follows_and_silences(client, register):
    me, pest = await register(), await register()
    await client.post(f"/creators/{me.handle}/follow", headers=pest.headers)
    assert (await client.get(f"/creators/{me.handle}")).json()["follower_count"] == 1
    r = await client.post("/me/blocks", headers=me.headers, json={"handle": pest.handle})
    assert r.status_code == 201 and r.json() == {"handle": pest.handle, "blocked": True}
    again = await client.post("/me/blocks", headers=me.headers, json={"handle": pest.handle})
    assert again.status_code == 200
    # Their follow ended and they cannot follow again.
    assert (await client.get(f"/creators/{me.handle}")).json()["follower_count"] == 0
    assert (await client.get("/me/following", headers=pest.headers)).json()["items"] == []
    assert_problem(await client.post(f"/creators/{me.handle}/follow", headers=pest.headers), 403)
    listed = (await client.get("/me/blocks", headers=me.headers)).json()["items"]
    assert [b["handle"] for b in listed] == [pest.handle]
    export = (await client.get("/me/export", headers=me.headers)).json()["marketplace"]
    assert [b["handle"] for b in export["blocked"]] == [pest.handle]
    assert_problem(
        await client.post("/me/blocks", headers=me.headers, json={"handle": me.handle}),
        422,
        "handle",
    )
    assert_problem(
        await client.post("/me/blocks", headers=me.headers, json={"handle": "nobody_here_x"}), 404
    )
    r = await client.delete(f"/me/blocks/{pest.handle}", headers=me.headers)
    assert r.status_code == 200 and r.json()["blocked"] is False
    assert (
        await client.post(f"/creators/{me.handle}/follow", headers=pest.headers)
    ).status_code == 200


async def test_concurrent_follows_make_one_group(client, register):
    creator = await register()
    fans = [await register() for _ in range(10)]
    answers = await asyncio.gather(
        *(client.post(f"/creators/{creator.handle}/follow", headers=f.headers) for f in fans)
    )
    assert all(a.status_code == 200 for a in answers)
    page = await until(lambda: _notes(client, creator), within=10)
    assert page["unread_count"] == 1
    assert [i["count"] for i in page["items"]] == [10]
