"""The demo data puts images on the demo haiku's sample, once."""

from __future__ import annotations


async def test_seed_adds_demo_images_once(client):
    from hub.dev.demo import accounts as seed_accounts
    from hub.dev.demo import market as seed_market
    from hub.dev.demo import marketplace as seed_marketplace

    await seed_accounts.seed()
    await seed_marketplace.seed()
    await seed_market.seed_images()
    assert await seed_market.seed_images() == 0
    alice = (await client.get("/creators/alice")).json()
    haiku = next(p for p in alice["prompts"]["items"] if p["title"] == "Haiku about anything")
    samples = (await client.get(f"/prompts/{haiku['id']}/samples")).json()["items"]
    media = [m for s in samples for m in s["media"]]
    assert sorted(m["alt"] for m in media) == [
        "A pale moon over a quiet town",
        "Rain falling on dark roofs under a dusk sky",
    ]
    assert all(m["content_type"] == "image/png" and m["width"] == 960 for m in media)


async def test_seed_offers_alices_plan_and_computes_recommendations(client, worker):
    from hub.dev.demo import accounts as seed_accounts
    from hub.dev.demo import market as seed_market
    from hub.dev.demo import marketplace as seed_marketplace
    from hub.dev.demo import runs as seed_runs

    await seed_accounts.seed()
    await seed_marketplace.seed()
    await seed_runs.seed()
    await seed_market.seed()
    plan = (await client.get("/creators/alice/plan")).json()
    assert (plan["price_cents"], plan["runs_included"]) == (500, 10)
    # Every demo prompt has its list computed (other tests' prompts may fill it, so only
    # that it exists is asserted here; the blend itself: tests/recommendations).
    from hub.platform.db import fetch

    missing = await fetch(
        "SELECT p.title FROM prompts p JOIN users u ON u.id = p.owner_id "
        "LEFT JOIN prompt_similar_state s ON s.prompt_id = p.id "
        "WHERE u.handle IN ('alice', 'carol') AND p.status = 'active' AND s.prompt_id IS NULL"
    )
    assert missing == []
    alice = (await client.get("/creators/alice")).json()
    email = next(p for p in alice["prompts"]["items"] if p["title"].startswith("Cold email"))
    assert (await client.get(f"/prompts/{email['id']}/similar")).json()["items"]
