"""The demo marketplace seed is idempotent and leaves a consistent marketplace."""

from __future__ import annotations

from hub.platform.db import fetchrow


async def test_seed_marketplace_twice(client):
    from hub.dev.demo import accounts as seed_accounts
    from hub.dev.demo import marketplace as seed_marketplace

    await seed_accounts.seed()
    await seed_marketplace.seed()
    counts = await fetchrow(
        "SELECT (SELECT count(*) FROM prompts p JOIN users u ON u.id = p.owner_id "
        "WHERE u.handle IN ('alice', 'carol')) AS prompts, "
        "(SELECT count(*) FROM reviews) AS reviews, (SELECT count(*) FROM follows) AS follows"
    )
    await seed_marketplace.seed()
    again = await fetchrow(
        "SELECT (SELECT count(*) FROM prompts p JOIN users u ON u.id = p.owner_id "
        "WHERE u.handle IN ('alice', 'carol')) AS prompts, "
        "(SELECT count(*) FROM reviews) AS reviews, (SELECT count(*) FROM follows) AS follows"
    )
    assert counts["prompts"] == again["prompts"] == 4
    assert counts["reviews"] == again["reviews"] and counts["follows"] == again["follows"]
    alice = (await client.get("/creators/alice")).json()
    assert alice["follower_count"] == 2 and alice["prompt_count"] == 2
    private = [p for p in alice["prompts"]["items"] if p["private_mode"]]
    assert private and all("template" not in p for p in private)
    haiku = next(p for p in alice["prompts"]["items"] if p["title"].startswith("Haiku"))
    assert haiku["rating_count"] == 2 and haiku["rating_avg"] == 4.5
    carol = (await client.get("/creators/carol")).json()
    guarded = {p["title"]: p["leak_guard"] for p in carol["prompts"]["items"]}
    assert guarded["Code review checklist"] is True  # public, with the leak guard asked for
