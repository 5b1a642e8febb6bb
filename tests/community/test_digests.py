"""Email digests through the real path: the arq cron job in the session's worker, the mail
outbox, aiosmtplib to a real SMTP server in this process (aiosmtpd), the unsubscribe link
followed without signing in; exactly one email per user and period, also when the job runs
twice at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from arq.connections import ArqRedis

from hub.community import digests
from hub.platform.db import fetch
from hub.platform.redis import get_redis
from hub.platform.settings import get_settings
from tests.community.live import until
from tests.conftest import unique


def _away(account) -> None:
    """Mark the user as last seen two days ago (they have been away)."""
    return get_redis().set(f"hub:seen:{account.id}", f"{time.time() - 2 * 86400:.0f}")


async def _digest_mail(account) -> list[dict]:
    return await fetch(
        "SELECT id, delivered_at FROM mail_outbox WHERE user_id = $1::uuid "
        "AND kind = 'notification_digest'",
        account.id,
    )


async def _delivered(account) -> list[dict]:
    rows = await _digest_mail(account)
    return rows if rows and all(r["delivered_at"] for r in rows) else []


async def _run_job_twice_at_once() -> None:
    arq = ArqRedis(pool_or_conn=get_redis().connection_pool)
    jobs = await asyncio.gather(
        *(
            arq.enqueue_job("send_notification_digests", _job_id=f"test-digest:{uuid.uuid4()}")
            for _ in range(2)
        )
    )
    await asyncio.gather(*(job.result(timeout=60) for job in jobs if job is not None))


async def test_one_digest_per_period_even_when_the_job_runs_twice(
    client, register, mailbox, hub_server
):
    bob, alice, carol = await register(), await register(), await register()
    slug = unique("dg-")
    await client.post("/rooms", headers=carol.headers, json={"slug": slug, "title": "D"})
    await client.post(f"/creators/{bob.handle}/follow", headers=alice.headers)
    await client.post(
        f"/rooms/{slug}/messages", headers=carol.headers, json={"text": f"@{bob.handle} look"}
    )
    await _away(bob)

    await _run_job_twice_at_once()
    await _run_job_twice_at_once()
    rows = await until(lambda: _delivered(bob))
    assert len(rows) == 1
    [mail] = mailbox.to(bob["email"], "unread notification")
    assert mail.subject == "You have 2 unread notifications on BetterPrompt"
    base = get_settings().public_url
    text = mail.text.replace("\r\n", "\n")
    assert f"- @{carol.handle} mentioned you in #{slug}\n  {base}/chat/{slug}" in text
    assert f"- @{alice.handle} followed you\n  {base}/creators/{alice.handle}" in text
    assert text.index("mentioned you") < text.index("followed you")  # newest first
    digest = await fetch(
        "SELECT notification_count FROM notification_digests WHERE user_id = $1::uuid", bob.id
    )
    assert [d["notification_count"] for d in digest] == [2]

    # The unsubscribe link works without signing in.
    link = next(line for line in text.splitlines() if "unsubscribe?token=" in line).split(": ", 1)[
        1
    ]
    async with httpx.AsyncClient() as browser:
        page = await browser.get(link.replace(base, hub_server))
    assert page.status_code == 200 and "You are unsubscribed" in page.text
    assert page.headers["content-type"].startswith("text/html")
    settings = (await client.get("/me/notification-settings", headers=bob.headers)).json()
    assert settings["email_digest"] is False

    # Next period, new news: nothing, since Bob unsubscribed.
    await client.post(f"/creators/{bob.handle}/follow", headers=carol.headers)
    await _away(bob)
    later = datetime.now(UTC) + timedelta(hours=get_settings().digest_period_hours)
    await digests.send_digests(now=later)
    assert len(await _digest_mail(bob)) == 1


async def test_who_gets_a_digest_and_what_is_in_it(client, register):
    online, picky, reader, unverified, fan = (
        await register(),
        await register(),
        await register(),
        await register(verify=False),
        await register(),
    )
    for user in (online, picky, reader, unverified):
        r = await client.post(f"/creators/{user.handle}/follow", headers=fan.headers)
        assert r.status_code == 200, r.text
    # Picky wants follows in the app only, not by email.
    await client.patch(
        "/me/notification-settings",
        headers=picky.headers,
        json={"types": {"follower.new": {"email": False}}},
    )
    # Reader has read everything.
    await client.post("/me/notifications/read", headers=reader.headers, json={"all": True})
    for user in (picky, reader, unverified):
        await _away(user)
    # Online was here a moment ago.
    assert (await client.get("/me", headers=online.headers)).status_code == 200
    await digests.send_digests()
    await digests.send_digests()
    for user in (online, picky, reader, unverified):
        assert await _digest_mail(user) == [], user.handle


async def test_two_passes_at_once_queue_one_mail(client, register):
    user, fan = await register(), await register()
    await client.post(f"/creators/{user.handle}/follow", headers=fan.headers)
    await _away(user)
    await asyncio.gather(*(digests.send_digests() for _ in range(4)))
    assert len(await _digest_mail(user)) == 1


async def test_unsubscribe_tokens_are_checked(client, register, hub_server):
    user = await register()
    for bad in ("nonsense", user.token, digests.unsubscribe_token(str(uuid.uuid4()))):
        r = await client.post("/notifications/unsubscribe", json={"token": bad})
        assert r.status_code == 400 and "token" in r.text
        page = await client.get("/notifications/unsubscribe", params={"token": bad})
        assert page.status_code == 400 and "not valid" in page.text
    good = digests.unsubscribe_token(user.id)
    # It is no access token.
    r = await client.get("/me", headers={"Authorization": f"Bearer {good}"})
    assert r.status_code == 401
    r = await client.post("/notifications/unsubscribe", json={"token": good})
    assert r.status_code == 200 and r.json() == {"email_digest": False}
    settings = (await client.get("/me/notification-settings", headers=user.headers)).json()
    assert settings["email_digest"] is False
