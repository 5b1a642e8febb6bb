"""Email digests: what you missed, for users who have been away.

An arq cron (`send_digests`, workers/community.py) looks for users with unread notifications
newer than their last digest (at most 7 days old), who have not been seen for
`HUB_DIGEST_OFFLINE_HOURS` (see `activity`), whose address is verified and who did not turn
the digest off. Each gets one email per period of `HUB_DIGEST_PERIOD_HOURS`, listing those
notifications (of the kinds they want by email) as the same sentences the app shows.

Never twice: the (user, period) row in `notification_digests` is inserted in the same
transaction as the mail it queues in the outbox (`hub.mail`), so a second run of the job,
or two at once, finds the row and sends nothing; the outbox then delivers exactly that
message (retrying SMTP failures). The email carries an unsubscribe link that works without
signing in: a signed token (a JWT of its own type, never valid as an access token) that
turns the digest off.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
import structlog

from hub import mail
from hub.community import activity, notifications, preferences
from hub.platform.auth import ALGORITHM, ISSUER
from hub.platform.db import fetch, fetchrow, transaction
from hub.platform.settings import Settings, get_settings

log = structlog.get_logger(__name__)

LOOKBACK_DAYS = 7  # a digest never reaches further back than this
SHOWN = 20  # notifications listed in one email (the rest are counted)
BATCH = 200
UNSUBSCRIBE_TYPE = "unsubscribe"


def period_start(now: datetime, settings: Settings) -> datetime:
    """The start of the digest period `now` falls in (periods count from the Unix epoch)."""
    length = max(60.0, settings.digest_period_hours * 3600)
    return datetime.fromtimestamp((now.timestamp() // length) * length, UTC)


# --- the unsubscribe link ----------------------------------------------------------------


def unsubscribe_token(user_id: str, settings: Settings | None = None) -> str:
    """A signed, non-expiring token that turns this user's digest off (and nothing else)."""
    settings = settings or get_settings()
    claims = {"sub": user_id, "iss": ISSUER, "typ": UNSUBSCRIBE_TYPE, "what": "digest"}
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def user_of_unsubscribe_token(token: str) -> uuid.UUID | None:
    """The user a genuine unsubscribe token names; None for anything else."""
    try:
        claims = jwt.decode(
            token,
            get_settings().jwt_secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "iss"]},
        )
        if claims.get("typ") != UNSUBSCRIBE_TYPE or claims.get("what") != "digest":
            return None
        return uuid.UUID(str(claims["sub"]))
    except (jwt.InvalidTokenError, ValueError):
        return None


async def unsubscribe(token: str) -> bool:
    """Turn the digest off for the token's user; False when the token is not genuine."""
    user_id = user_of_unsubscribe_token(token)
    if user_id is None:
        return False
    exists = await fetchrow("SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL", user_id)
    if exists is None:
        return False
    await preferences.set_email_digest(user_id, False)
    log.info("digest.unsubscribed", user_id=str(user_id))
    return True


# --- the job ------------------------------------------------------------------------------


async def _candidates(period: datetime, after: uuid.UUID | None) -> list[dict[str, Any]]:
    """Users with unread notifications newer than their last digest and no digest this period."""
    return await fetch(
        "SELECT u.id, u.email, u.handle, u.display_name, "
        "coalesce(d.last_sent, now() - make_interval(days => $3)) AS since "
        "FROM (SELECT DISTINCT user_id FROM notifications WHERE read_at IS NULL "
        "AND group_id IS NULL AND last_at > now() - make_interval(days => $3)) n "
        "JOIN users u ON u.id = n.user_id "
        "LEFT JOIN notification_settings s ON s.user_id = u.id "
        "LEFT JOIN LATERAL (SELECT max(sent_at) AS last_sent FROM notification_digests "
        "WHERE user_id = u.id) d ON true "
        "WHERE u.deleted_at IS NULL AND u.email_verified_at IS NOT NULL "
        "AND coalesce(s.email_digest, true) "
        "AND NOT EXISTS (SELECT 1 FROM notification_digests x WHERE x.user_id = u.id "
        "AND x.period_start = $1) "
        "AND ($2::uuid IS NULL OR u.id > $2) ORDER BY u.id LIMIT $4",
        period,
        after,
        LOOKBACK_DAYS,
        BATCH,
    )


async def _items(user_id: uuid.UUID, since: datetime) -> list[Any]:
    """The user's unread notifications since `since` of the kinds they want by email."""
    wanted = await preferences.email_kinds(user_id)
    return [n for n in await notifications.unread_since(user_id, since) if n.type in wanted]


def compose(user: dict[str, Any], items: list[Any], settings: Settings) -> tuple[str, str]:
    """(subject, plain text) of one digest."""
    base = settings.public_url.rstrip("/")
    count = len(items)
    subject = (
        "You have 1 unread notification on BetterPrompt"
        if count == 1
        else f"You have {count} unread notifications on BetterPrompt"
    )
    lines = [f"Hi {user['display_name'] or user['handle']},", "", "While you were away:", ""]
    for item in items[:SHOWN]:
        lines.append(f"- {item.text}")
        lines.append(f"  {base}{item.url}")
    if count > SHOWN:
        lines.append(f"- and {count - SHOWN} more")
    hours = f"{settings.digest_period_hours:g}"
    lines += [
        "",
        f"See them all: {base}/notifications",
        "",
        f"You get this email at most once every {hours} hours, when you have unread "
        "notifications and have been away for a while. Choose what it includes in your "
        f"notification settings: {base}/account",
        f"Unsubscribe from these emails (no sign-in needed): {base}/api/v1/notifications/"
        f"unsubscribe?token={unsubscribe_token(str(user['id']), settings)}",
    ]
    return subject, "\n".join(lines) + "\n"


async def _send_one(user: dict[str, Any], period: datetime, settings: Settings) -> str | None:
    """Queue this user's digest for this period, once; the outbox id, or None."""
    items = await _items(user["id"], user["since"])
    if not items:
        return None
    subject, text = compose(user, items, settings)
    async with transaction():
        claimed = await fetch(
            "INSERT INTO notification_digests (user_id, period_start, notification_count) "
            "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
            user["id"],
            period,
            len(items),
        )
        if not claimed:
            return None  # another run sent this period's digest
        mail_id = await mail.queue(
            to=user["email"],
            subject=subject,
            text=text,
            kind="notification_digest",
            user_id=str(user["id"]),
        )
        await fetch(
            "UPDATE notification_digests SET mail_id = $3 WHERE user_id = $1 AND period_start = $2",
            user["id"],
            period,
            uuid.UUID(mail_id),
        )
    return mail_id


async def send_digests(now: datetime | None = None, settings: Settings | None = None) -> int:
    """One pass: queue every due digest of the current period; returns how many were queued.
    Idempotent per (user, period), also when two passes run at once."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    period = period_start(now, settings)
    away_since = time.time() - settings.digest_offline_hours * 3600
    queued: list[str] = []
    after: uuid.UUID | None = None
    while True:
        batch = await _candidates(period, after)
        if not batch:
            break
        after = batch[-1]["id"]
        seen = await activity.last_seen([str(u["id"]) for u in batch])
        for user in batch:
            if seen.get(str(user["id"]), 0.0) > away_since:
                continue  # online recently: they see their notifications in the app
            mail_id = await _send_one(user, period, settings)
            if mail_id is not None:
                queued.append(mail_id)
        if len(batch) < BATCH:
            break
    mail.deliver_soon(queued)
    if queued:
        log.info("digest.queued", count=len(queued), period=period.isoformat())
    return len(queued)
