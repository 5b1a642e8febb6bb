"""Creators and follows: profiles, idempotent follow/unfollow, no self-follow, exact counts."""

from __future__ import annotations

import asyncio

from hub.platform.db import fetchrow
from tests.prompts.helpers import assert_problem, create_prompt


async def test_creator_profile_with_counts_and_prompts(client, register):
    creator, fan = await register(), await register()
    await client.patch("/me", headers=creator.headers, json={"bio": "I write prompts"})
    p1 = await create_prompt(client, creator, title="First prompt")
    p2 = await create_prompt(client, creator, title="Second prompt", private_mode=True)
    archived = await create_prompt(client, creator, title="Archived prompt")
    await client.delete(f"/prompts/{archived['id']}", headers=creator.headers)

    r = await client.get(f"/creators/{creator.handle.upper()}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["handle"] == creator.handle and body["bio"] == "I write prompts"
    assert body["prompt_count"] == 2
    assert body["follower_count"] == 0 and body["following"] is False
    assert [p["id"] for p in body["prompts"]["items"]] == [p2["id"], p1["id"]]
    assert all("template" not in p for p in body["prompts"]["items"])

    r = await client.get(f"/creators/{creator.handle}", params={"limit": 1})
    cursor = r.json()["prompts"]["next_cursor"]
    r = await client.get(f"/creators/{creator.handle}", params={"limit": 1, "cursor": cursor})
    assert [p["id"] for p in r.json()["prompts"]["items"]] == [p1["id"]]

    await client.post(f"/creators/{creator.handle}/follow", headers=fan.headers)
    r = await client.get(f"/creators/{creator.handle}", headers=fan.headers)
    assert r.json()["following"] is True and r.json()["follower_count"] == 1


async def test_unknown_creator_is_404(client):
    assert_problem(await client.get("/creators/nobody_here_123"), 404)
    assert (await client.get("/creators/bad%20handle!")).status_code in (400, 404)


async def test_follow_unfollow_idempotent_and_following_list(client, register):
    creator, other, fan = await register(), await register(), await register()
    for _ in range(2):
        r = await client.post(f"/creators/{creator.handle}/follow", headers=fan.headers)
        assert r.status_code == 200, r.text
        assert r.json() == {"handle": creator.handle, "following": True, "follower_count": 1}
    await client.post(f"/creators/{other.handle}/follow", headers=fan.headers)
    r = await client.get("/me/following", headers=fan.headers)
    assert [c["handle"] for c in r.json()["items"]] == [other.handle, creator.handle]
    r = await client.get("/me/following", params={"limit": 1}, headers=fan.headers)
    assert len(r.json()["items"]) == 1
    r2 = await client.get(
        "/me/following", params={"limit": 1, "cursor": r.json()["next_cursor"]}, headers=fan.headers
    )
    assert [c["handle"] for c in r2.json()["items"]] == [creator.handle]
    assert r2.json()["next_cursor"] is None

    for _ in range(2):
        r = await client.delete(f"/creators/{creator.handle}/follow", headers=fan.headers)
        assert r.status_code == 200
        assert r.json() == {"handle": creator.handle, "following": False, "follower_count": 0}
    r = await client.get("/me/following", headers=fan.headers)
    assert [c["handle"] for c in r.json()["items"]] == [other.handle]
    me = await client.get(f"/creators/{fan.handle}")
    assert me.json()["following_count"] == 1


async def test_no_self_follow_and_auth_required(client, register):
    me = await register()
    assert_problem(
        await client.post(f"/creators/{me.handle}/follow", headers=me.headers), 422, "handle"
    )
    assert_problem(await client.post(f"/creators/{me.handle}/follow"), 401)
    assert_problem(await client.get("/me/following"), 401)
    assert_problem(await client.post("/creators/nobody_here_123/follow", headers=me.headers), 404)


async def test_counts_exact_under_concurrent_follows(client, register):
    creator = await register()
    fans = await asyncio.gather(*(register() for _ in range(12)))

    async def follow_twice(fan):
        await asyncio.gather(
            client.post(f"/creators/{creator.handle}/follow", headers=fan.headers),
            client.post(f"/creators/{creator.handle}/follow", headers=fan.headers),
            client.post(f"/creators/{fan.handle}/follow", headers=creator.headers),
        )

    await asyncio.gather(*(follow_twice(f) for f in fans))
    # half unfollow, concurrently and twice each
    await asyncio.gather(
        *(
            client.delete(f"/creators/{creator.handle}/follow", headers=f.headers)
            for f in fans[:6] + fans[:6]
        )
    )
    r = await client.get(f"/creators/{creator.handle}")
    truth = await fetchrow(
        "SELECT count(*) AS n FROM follows WHERE followee_id = $1::uuid", creator.id
    )
    assert r.json()["follower_count"] == truth["n"] == 6
    assert r.json()["following_count"] == 12
