"""Mentions: `@handle` in a chat message (REST or realtime publish) or a review reply notifies
that user once per message, only if they may read the room; rendered as links. REST and two
users live over the official centrifuge-python SDK."""

from __future__ import annotations

from hub.community.mentions import handles
from tests.community.live import live, of_type, until
from tests.conftest import unique
from tests.prompts.helpers import create_prompt


def test_what_counts_as_a_mention():
    assert handles("hi @bob, @Carol_1 and @bob again") == ["bob", "Carol_1"]
    assert handles("mail me@bob.com or @ab or @" + "x" * 31) == []
    assert handles("(@dave) @eve! @frank.") == ["dave", "eve", "frank"]
    assert len(handles(" ".join(f"@user{i:03d}" for i in range(20)))) == 10


async def _room(client, owner, visibility="public"):
    slug = unique("mn-")
    r = await client.post(
        "/rooms", headers=owner.headers, json={"slug": slug, "title": "M", "visibility": visibility}
    )
    assert r.status_code == 201, r.text
    return slug


async def _mentions_of(client, account):
    items = (await client.get("/me/notifications", headers=account.headers)).json()["items"]
    return [n for n in items if n["type"] == "mention"]


async def test_a_chat_mention_notifies_live_once_and_renders_as_link(client, register, ws_url):
    alice, bob, carol = await register(), await register(), await register()
    slug = await _room(client, alice)
    inbox = f"notifications#{bob.id}"
    async with live(ws_url, bob, inbox) as (_, recs):
        notes = recs[inbox]
        text = f"hey @{bob.handle.upper()} and @{carol.handle}, not @nobody_{unique()} or a@b.co"
        r = await client.post(f"/rooms/{slug}/messages", headers=alice.headers, json={"text": text})
        assert r.status_code == 201, r.text
        msg = r.json()
        assert msg["mentions"] == [
            {"id": bob.id, "handle": bob.handle, "url": f"/creators/{bob.handle}"},
            {"id": carol.id, "handle": carol.handle, "url": f"/creators/{carol.handle}"},
        ]
        await notes.wait_for(lambda: of_type(notes, "notification.created"))
        note = of_type(notes, "notification.created")[0]["notification"]
        assert note["type"] == "mention" and note["actor"]["handle"] == alice.handle
        assert note["text"] == f"@{alice.handle} mentioned you in #{slug}"
        assert note["url"] == f"/chat/{slug}" and note["room"] == slug
        assert note["message_id"] == msg["id"] and note["excerpt"] == text
        assert note["subject"] == {"type": "room", "id": slug, "title": f"#{slug}"}

    # History and the live event carry the same links.
    history = (await client.get(f"/rooms/{slug}/messages")).json()["items"]
    assert history[0]["mentions"] == msg["mentions"]
    # Editing the message tells nobody twice; someone newly named is told.
    dave = await register()
    r = await client.patch(
        f"/rooms/{slug}/messages/{msg['id']}",
        headers=alice.headers,
        json={"text": f"@{bob.handle} and @{dave.handle}"},
    )
    assert r.status_code == 200, r.text
    assert [m["handle"] for m in r.json()["mentions"]] == [bob.handle, dave.handle]
    assert len(await _mentions_of(client, bob)) == 1
    assert len(await _mentions_of(client, dave)) == 1
    assert len(await _mentions_of(client, carol)) == 1
    # Naming yourself is no notification.
    await client.post(
        f"/rooms/{slug}/messages", headers=alice.headers, json={"text": f"me, @{alice.handle}"}
    )
    assert await _mentions_of(client, alice) == []


async def test_a_realtime_publish_mentions_too_and_bursts_group(client, register, ws_url):
    alice, bob = await register(), await register()
    slug = await _room(client, alice)
    async with live(ws_url, alice, f"rooms:{slug}") as (alice_ws, _):
        sub = alice_ws.get_subscription(f"rooms:{slug}")
        for i in range(3):
            await sub.publish({"text": f"@{bob.handle} ping {i}"})
    mentions = await until(lambda: _mentions_of(client, bob))
    assert len(mentions) == 1
    assert mentions[0]["count"] == 3
    assert mentions[0]["text"] == f"@{alice.handle} mentioned you 3 times in #{slug}"


async def test_only_readers_of_the_room_and_not_those_who_blocked(client, register):
    alice = await register()
    member, outsider, blocker = await register(), await register(), await register()
    slug = await _room(client, alice, "private")
    for m in (member, blocker):
        await client.post(
            f"/rooms/{slug}/members", headers=alice.headers, json={"handle": m.handle}
        )
    await client.post("/me/blocks", headers=blocker.headers, json={"handle": alice.handle})
    r = await client.post(
        f"/rooms/{slug}/messages",
        headers=alice.headers,
        json={"text": f"@{member.handle} @{outsider.handle} @{blocker.handle}"},
    )
    assert r.status_code == 201
    assert len(r.json()["mentions"]) == 3  # links for all three...
    await until(lambda: _mentions_of(client, member))
    # ...but only the member who may read it, and has not blocked Alice, is told.
    assert await _mentions_of(client, outsider) == []
    assert await _mentions_of(client, blocker) == []


async def test_a_review_reply_mention(client, register, grant_completed_run, ws_url):
    creator, reviewer, friend = await register(), await register(), await register()
    prompt = await create_prompt(client, creator, title="Haiku")
    await grant_completed_run(reviewer.id, prompt["id"])
    review = (
        await client.post(
            f"/prompts/{prompt['id']}/reviews", headers=reviewer.headers, json={"rating": 3}
        )
    ).json()
    inbox = f"notifications#{friend.id}"
    async with live(ws_url, friend, inbox) as (_, recs):
        notes = recs[inbox]
        r = await client.post(
            f"/prompts/{prompt['id']}/reviews/{review['id']}/reply",
            headers=creator.headers,
            json={"body": f"Thanks! @{friend.handle} helped with this one."},
        )
        assert r.status_code == 200, r.text
        assert r.json()["reply_mentions"] == [
            {"id": friend.id, "handle": friend.handle, "url": f"/creators/{friend.handle}"}
        ]
        await notes.wait_for(lambda: of_type(notes, "notification.created"))
        note = of_type(notes, "notification.created")[0]["notification"]
        assert note["type"] == "mention"
        assert note["text"] == f"@{creator.handle} mentioned you in a reply about \u201cHaiku\u201d"
        assert note["url"] == f"/prompts/{prompt['id']}#reviews-h"
    listed = (await client.get(f"/prompts/{prompt['id']}/reviews")).json()["items"]
    assert listed[0]["reply_mentions"][0]["handle"] == friend.handle
