"""Notifications: persisted with unread state, created inside the transaction of their cause
(a follow, a review, a sale, a followed creator's new prompt) and published to
`notifications#<user_id>` after it commits.

Each one reads as a sentence (`text`) about a `subject`, with the `url` of the page it is
about, so every client shows the same words. Read state changes are published to the same
private channel (`notifications.read`), so every open tab and device updates its unread count.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from hub.community.schemas import (
    MarkRead,
    MarkReadResult,
    NotificationOut,
    NotificationPage,
    PromptRef,
    Subject,
    UserRef,
)
from hub.db import fetch, fetchrow
from hub.errors import bad_request
from hub.pagination import decode_cursor, page
from hub.prompts.events import publish_quietly

_SELECT = (
    "SELECT n.id, n.user_id, n.kind, n.review_id, n.read_at, n.created_at, n.data, "
    "a.id AS actor_id, a.handle AS actor_handle, a.display_name AS actor_display_name, "
    "p.id AS prompt_id, p.title AS prompt_title, p.private_mode, p.price_cents, p.model, "
    "p.tags, r.rating "
    "FROM notifications n "
    "LEFT JOIN users a ON a.id = n.actor_id "
    "LEFT JOIN prompts p ON p.id = n.prompt_id "
    "LEFT JOIN reviews r ON r.id = n.review_id "
)


def prompt_ref(row: dict[str, Any], prefix: str = "prompt_") -> PromptRef | None:
    if row.get(f"{prefix}id") is None:
        return None
    return PromptRef(
        id=str(row[f"{prefix}id"]),
        title=row[f"{prefix}title"],
        private_mode=row["private_mode"],
        price_cents=row["price_cents"],
        model=row["model"],
        tags=list(row["tags"] or []),
    )


def _quoted(title: str) -> str:
    return f"\u201c{title}\u201d"


def _money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def sentence(
    kind: str,
    actor: UserRef | None,
    prompt: PromptRef | None,
    rating: int | None,
    data: dict[str, Any],
) -> tuple[str, str, Subject | None]:
    """(text, url, subject) of a notification: the one place its words are chosen."""
    who = f"@{actor.handle}" if actor else "Someone"
    title = _quoted(prompt.title) if prompt else "a prompt"
    prompt_url = f"/prompts/{prompt.id}" if prompt else "/notifications"
    prompt_subject = Subject(type="prompt", id=prompt.id, title=prompt.title) if prompt else None
    if kind == "follower.new":
        url = f"/creators/{actor.handle}" if actor else "/notifications"
        subject = Subject(type="user", id=actor.id, title=actor.handle) if actor else None
        return f"{who} followed you", url, subject
    if kind == "review.new":
        stars = f"{rating} star{'' if rating == 1 else 's'}" if rating else "a review"
        return f"{who} rated {title} {stars}", prompt_url + "#reviews-h", prompt_subject
    if kind == "prompt.published":
        return f"{who} published {title}", prompt_url, prompt_subject
    if kind == "prompt.version":
        version = data.get("version")
        return f"{who} released version {version} of {title}", prompt_url, prompt_subject
    if kind == "sale.earned":
        amount = _money(int(data.get("amount_cents") or 0))
        return f"You earned {amount} from {title}", "/dashboard", prompt_subject
    return f"{who}: {kind}", prompt_url, prompt_subject


def _out(row: dict[str, Any]) -> NotificationOut:
    actor = (
        UserRef(
            id=str(row["actor_id"]),
            handle=row["actor_handle"],
            display_name=row["actor_display_name"],
        )
        if row["actor_id"] is not None
        else None
    )
    prompt = prompt_ref(row)
    data = row["data"] if isinstance(row["data"], dict) else json.loads(row["data"] or "{}")
    text, url, subject = sentence(row["kind"], actor, prompt, row["rating"], data)
    return NotificationOut(
        id=str(row["id"]),
        type=row["kind"],
        actor=actor,
        subject=subject,
        url=url,
        text=text,
        prompt=prompt,
        review_id=str(row["review_id"]) if row["review_id"] else None,
        rating=row["rating"],
        read=row["read_at"] is not None,
        created_at=row["created_at"],
        amount_cents=data.get("amount_cents"),
        version=data.get("version"),
        run_id=data.get("run_id"),
    )


async def notify(
    user_id: uuid.UUID,
    kind: str,
    dedupe_key: str,
    *,
    actor_id: uuid.UUID | None = None,
    prompt_id: uuid.UUID | None = None,
    review_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> uuid.UUID | None:
    """Record a notification in the caller's transaction; None when an identical one
    (same `dedupe_key` for that user) exists, e.g. a follow after an unfollow."""
    row = await fetchrow(
        "INSERT INTO notifications (user_id, kind, dedupe_key, actor_id, prompt_id, review_id, "
        "data) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) "
        "ON CONFLICT (user_id, dedupe_key) DO NOTHING RETURNING id",
        user_id,
        kind,
        dedupe_key,
        actor_id,
        prompt_id,
        review_id,
        json.dumps(data or {}),
    )
    return row["id"] if row else None


async def notify_many(
    user_ids: list[uuid.UUID],
    kind: str,
    dedupe_key: str,
    *,
    actor_id: uuid.UUID | None = None,
    prompt_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> list[uuid.UUID]:
    """One notification per user (a fan-out batch), skipping those who already have it."""
    rows = await fetch(
        "INSERT INTO notifications (user_id, kind, dedupe_key, actor_id, prompt_id, data) "
        "SELECT u, $2, $3, $4, $5, $6::jsonb FROM unnest($1::uuid[]) AS u "
        "ON CONFLICT (user_id, dedupe_key) DO NOTHING RETURNING id",
        user_ids,
        kind,
        dedupe_key,
        actor_id,
        prompt_id,
        json.dumps(data or {}),
    )
    return [r["id"] for r in rows]


async def publish_created(notification_id: uuid.UUID | None) -> None:
    """After commit: push the new notification to its user's private channel."""
    if notification_id is None:
        return
    row = await fetchrow(_SELECT + "WHERE n.id = $1", notification_id)
    if row is None:
        return
    unread = await unread_count(row["user_id"])
    await publish_quietly(
        f"notifications#{row['user_id']}",
        {
            "type": "notification.created",
            "notification": _to_builtins(_out(row)),
            "unread_count": unread,
        },
    )


async def publish_created_many(notification_ids: list[uuid.UUID]) -> None:
    """After commit: push a batch of new notifications (a fan-out), each to its user."""
    if not notification_ids:
        return
    rows = await fetch(_SELECT + "WHERE n.id = ANY($1::uuid[])", notification_ids)
    users = list({r["user_id"] for r in rows})
    counts = {
        r["user_id"]: int(r["n"])
        for r in await fetch(
            "SELECT user_id, count(*) AS n FROM notifications WHERE user_id = ANY($1::uuid[]) "
            "AND read_at IS NULL GROUP BY user_id",
            users,
        )
    }
    for row in rows:
        await publish_quietly(
            f"notifications#{row['user_id']}",
            {
                "type": "notification.created",
                "notification": _to_builtins(_out(row)),
                "unread_count": counts.get(row["user_id"], 0),
            },
        )


def _to_builtins(value: Any) -> Any:
    import msgspec

    return msgspec.to_builtins(value)


async def unread_count(user_id: uuid.UUID) -> int:
    row = await fetchrow(
        "SELECT count(*) AS n FROM notifications WHERE user_id = $1 AND read_at IS NULL", user_id
    )
    return int(row["n"]) if row else 0


async def list_notifications(
    user_id: str, unread: bool | None, cursor: str | None, limit: int
) -> NotificationPage:
    uid = uuid.UUID(user_id)
    key, after = decode_cursor(cursor, "notifications", datetime) if cursor else (None, None)
    state = {None: "", True: "AND n.read_at IS NULL ", False: "AND n.read_at IS NOT NULL "}[unread]
    rows = await fetch(
        _SELECT + "WHERE n.user_id = $1 " + state + "AND ($2::timestamptz IS NULL OR "
        "(n.created_at, n.id) < ($2, $3)) ORDER BY n.created_at DESC, n.id DESC LIMIT $4",
        uid,
        key,
        after,
        limit + 1,
    )
    items, next_cursor = page(rows, limit, "notifications", lambda r: r["created_at"])
    return NotificationPage(
        items=[_out(r) for r in items],
        next_cursor=next_cursor,
        unread_count=await unread_count(uid),
    )


async def mark_read(user_id: str, body: MarkRead) -> MarkReadResult:
    """Mark some (`ids`) or all of the user's notifications read. Idempotent; ids that are not
    the user's are ignored (they are not revealed to exist). What changed is published to the
    user's channel as `notifications.read`, so their other tabs and devices follow."""
    uid = uuid.UUID(user_id)
    if body.all:
        rows = await fetch(
            "UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL "
            "RETURNING id",
            uid,
        )
    elif body.ids:
        try:
            ids = [uuid.UUID(i) for i in body.ids]
        except ValueError as exc:
            raise bad_request("ids must be notification ids (UUIDs).", "ids") from exc
        rows = await fetch(
            "UPDATE notifications SET read_at = now() WHERE user_id = $1 AND id = ANY($2::uuid[]) "
            "AND read_at IS NULL RETURNING id",
            uid,
            ids,
        )
    else:
        raise bad_request("Send `ids` (a list of notification ids) or `all: true`.", "ids")
    count = await unread_count(uid)
    if rows:
        await publish_quietly(
            f"notifications#{uid}",
            {
                "type": "notifications.read",
                "ids": [str(r["id"]) for r in rows],
                "all": body.all,
                "unread_count": count,
            },
        )
    return MarkReadResult(updated=len(rows), unread_count=count)
