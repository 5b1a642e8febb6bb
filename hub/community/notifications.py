"""Notifications: persisted with unread state, created inside the transaction of their cause
(a follow, a review) and published to `notifications#<user_id>` after it commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from hub.community.schemas import (
    MarkRead,
    MarkReadResult,
    NotificationOut,
    NotificationPage,
    PromptRef,
    UserRef,
)
from hub.db import fetch, fetchrow
from hub.errors import bad_request
from hub.pagination import decode_cursor, page
from hub.prompts.events import publish_quietly

_SELECT = (
    "SELECT n.id, n.user_id, n.kind, n.review_id, n.read_at, n.created_at, "
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
    return NotificationOut(
        id=str(row["id"]),
        type=row["kind"],
        actor=actor,
        prompt=prompt_ref(row),
        review_id=str(row["review_id"]) if row["review_id"] else None,
        rating=row["rating"],
        read=row["read_at"] is not None,
        created_at=row["created_at"],
    )


async def notify(
    user_id: uuid.UUID,
    kind: str,
    dedupe_key: str,
    *,
    actor_id: uuid.UUID | None = None,
    prompt_id: uuid.UUID | None = None,
    review_id: uuid.UUID | None = None,
) -> uuid.UUID | None:
    """Record a notification in the caller's transaction; None when an identical one
    (same `dedupe_key` for that user) exists, e.g. a follow after an unfollow."""
    row = await fetchrow(
        "INSERT INTO notifications (user_id, kind, dedupe_key, actor_id, prompt_id, review_id) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, dedupe_key) DO NOTHING RETURNING id",
        user_id,
        kind,
        dedupe_key,
        actor_id,
        prompt_id,
        review_id,
    )
    return row["id"] if row else None


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
    the user's are ignored (they are not revealed to exist)."""
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
    return MarkReadResult(updated=len(rows), unread_count=await unread_count(uid))
