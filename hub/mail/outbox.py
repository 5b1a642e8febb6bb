"""The mail outbox: a message is written in the transaction of its cause, sent after commit.

`queue()` inserts the message inside the caller's transaction, so a mail exists exactly when
what it announces committed (a registration, a reset request). After commit the caller hands
the ids to `deliver_soon()`, which sends them from this process at once; the worker's
`deliver_pending` sweep sends whatever that missed (the process died, SMTP was down), with
backoff, up to `MAX_ATTEMPTS`. A row is claimed before sending, so the two never both send
it; SMTP cannot deduplicate, so a crash between sending and marking may send a message
twice (with the same Message-ID), never zero times.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Any

import structlog

from hub.mail.sender import Mail, send
from hub.platform.db import fetch, fetchrow

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 10
CLAIM_SECONDS = 120
_background: set[asyncio.Task[None]] = set()


async def queue(*, to: str, subject: str, text: str, kind: str, user_id: str | None = None) -> str:
    """Write the message to the outbox (inside the caller's transaction); returns its id."""
    row = await fetchrow(
        "INSERT INTO mail_outbox (kind, user_id, to_address, subject, body) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
        kind,
        uuid.UUID(user_id) if user_id else None,
        to,
        subject,
        text,
    )
    assert row is not None
    return str(row["id"])


async def deliver(mail_id: str) -> bool:
    """Send one queued message if nobody else is; True when it was sent now."""
    row = await fetchrow(
        "UPDATE mail_outbox SET claimed_until = now() + make_interval(secs => $3), "
        "attempts = attempts + 1 WHERE id = $1 AND delivered_at IS NULL AND attempts < $2 "
        "AND (claimed_until IS NULL OR claimed_until < now()) "
        "RETURNING id, kind, to_address, subject, body, attempts",
        uuid.UUID(mail_id),
        MAX_ATTEMPTS,
        float(CLAIM_SECONDS),
    )
    if row is None:
        return False
    mail = Mail(
        to=row["to_address"],
        subject=row["subject"],
        text=row["body"],
        kind=row["kind"],
        id=str(row["id"]),
    )
    try:
        where = await send(mail)
    except Exception as exc:  # noqa: BLE001 - recorded on the row and retried by the sweep
        backoff = min(3600.0, 30.0 * 2 ** (int(row["attempts"]) - 1))
        await fetch(
            "UPDATE mail_outbox SET claimed_until = NULL, last_error = $2, "
            "next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
            row["id"],
            f"{type(exc).__name__}: {exc}"[:500],
            backoff,
        )
        log.warning(
            "mail.send_failed",
            mail_id=mail.id,
            kind=mail.kind,
            attempt=row["attempts"],
            retry_in_seconds=backoff,
            error=type(exc).__name__,
        )
        return False
    # The body may hold a single-use link: it is not kept once delivered.
    await fetch(
        "UPDATE mail_outbox SET delivered_at = now(), claimed_until = NULL, body = '', "
        "last_error = NULL WHERE id = $1",
        row["id"],
    )
    log.info("mail.sent", mail_id=mail.id, kind=mail.kind, via=where.split("://")[0])
    return True


def deliver_soon(mail_ids: Iterable[str]) -> None:
    """After commit: send these now, in the background (the sweep covers a failure)."""
    ids = list(mail_ids)
    if not ids:
        return

    async def run() -> None:
        for mail_id in ids:
            try:
                await deliver(mail_id)
            except Exception:  # noqa: BLE001 - the worker's sweep delivers it later
                log.warning("mail.deliver_soon_failed", mail_id=mail_id, exc_info=True)

    task = asyncio.get_running_loop().create_task(run())
    _background.add(task)
    task.add_done_callback(_background.discard)


async def deliver_pending(limit: int = 100) -> int:
    """The worker's sweep: send what is due and not claimed; returns how many went out."""
    rows = await fetch(
        "SELECT id FROM mail_outbox WHERE delivered_at IS NULL AND next_attempt_at <= now() "
        "AND attempts < $1 AND (claimed_until IS NULL OR claimed_until < now()) "
        "ORDER BY next_attempt_at LIMIT $2",
        MAX_ATTEMPTS,
        limit,
    )
    sent = 0
    for r in rows:
        sent += await deliver(str(r["id"]))
    return sent


async def export_user(user_id: str) -> list[dict[str, Any]]:
    """The mail we sent the user (kinds and times; never the bodies) for GET /me/export."""
    rows = await fetch(
        "SELECT kind, subject, created_at, delivered_at FROM mail_outbox WHERE user_id = $1 "
        "ORDER BY created_at",
        uuid.UUID(user_id),
    )
    return [
        {
            "kind": r["kind"],
            "subject": r["subject"],
            "created_at": r["created_at"].isoformat(),
            "delivered_at": r["delivered_at"].isoformat() if r["delivered_at"] else None,
        }
        for r in rows
    ]


async def erase_user(user_id: str) -> None:
    """Inside the erasure transaction: the user's mail (addresses included) is deleted."""
    await fetch("DELETE FROM mail_outbox WHERE user_id = $1", uuid.UUID(user_id))
