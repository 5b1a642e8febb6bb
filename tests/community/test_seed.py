"""The community demo data (`make run`) is created through the real paths, shows every
feature, and seeding twice changes nothing."""

from __future__ import annotations

from hub.platform.db import fetch, fetchrow
from tests.community.live import until


async def _login(client, email: str) -> dict[str, str]:
    r = await client.post("/auth/login", json={"email": email, "password": "demo-password"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _counts() -> dict:
    row = await fetchrow(
        "SELECT (SELECT count(*) FROM moderation_cases) AS cases, "
        "(SELECT count(*) FROM reports) AS reports, "
        "(SELECT count(*) FROM room_messages) AS messages, "
        "(SELECT count(*) FROM blocks) AS blocks, "
        "(SELECT count(*) FROM notification_digests) AS digests"
    )
    assert row is not None
    return dict(row)


async def test_seed_shows_every_community_feature(client):
    from hub.dev.demo import accounts as seed_accounts
    from hub.dev.demo import community as seed_community
    from hub.dev.demo import marketplace as seed_marketplace
    from hub.dev.demo import web as seed_web

    await seed_accounts.seed()
    await seed_marketplace.seed()
    await seed_web.seed()
    await seed_community.seed()
    before = await _counts()
    await seed_community.seed()
    assert await _counts() == before

    bob = await _login(client, "bob@example.com")
    admin = await _login(client, "admin@example.com")
    notes = (await client.get("/me/notifications", headers=bob)).json()["items"]
    follows = next(n for n in notes if n["type"] == "follower.new")
    assert follows["count"] >= 4 and "others followed you" in follows["text"]
    assert any(n["type"] == "mention" and n["room"] == "lobby" for n in notes)
    mine = (await client.get("/me/rooms", headers=bob)).json()["items"]
    kinds = {r["kind"]: r for r in mine}
    assert kinds["dm"]["peer"]["handle"] == "alice"
    assert kinds["lobby"]["unread_count"] >= 1
    assert [b["handle"] for b in (await client.get("/me/blocks", headers=bob)).json()["items"]] == [
        "spammy"
    ]
    queue = (await client.get("/moderation/reports", headers=admin)).json()["items"]
    spam = next(c for c in queue if c["subject"]["author"]["handle"] == "spammy")
    assert spam["report_count"] == 2 and spam["subject"]["type"] == "message"
    log = (await client.get("/admin/audit-log", headers=admin)).json()["items"]
    assert any(e["action"] == "report.ban" and e["target_user"]["handle"] == "spammy" for e in log)
    digest = await until(
        lambda: fetch(
            "SELECT d.notification_count FROM notification_digests d JOIN users u "
            "ON u.id = d.user_id WHERE u.handle = 'alice'"
        )
    )
    assert len(digest) == 1
