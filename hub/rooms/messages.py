"""Chat messages: post (REST and realtime alike), list, edit, delete, and their mentions.

Why a module of its own: a REST `POST /rooms/{slug}/messages`, a realtime `publish` to
`rooms:<slug>` and a direct message take the same path (`create_message`): validated,
rate-limited, persisted, then published through the outbox, with the author's read marker,
the mentions and the unread counts in the same transaction. Who may post is the room's rule
(`hub.rooms.service.check_can_post`).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import structlog

from hub import live, outbox
from hub.community import mentions
from hub.moderation import audit
from hub.platform import outages
from hub.platform.auth import CurrentUser
from hub.platform.db import fetch, fetchrow
from hub.platform.errors import forbidden, not_found
from hub.platform.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, page
from hub.platform.redis import get_redis
from hub.platform.settings import get_settings
from hub.rooms import reads
from hub.rooms.schemas import Author, Mention, MessageOut
from hub.rooms.service import (
    PostRefused,
    channel_of,
    check_can_post,
    may_read,
    readable_room,
    refusal_to_problem,
)

log = structlog.get_logger(__name__)


async def _rate_limit(room: dict[str, Any], user_id: str) -> None:
    """Two fixed windows, both counted on every attempt: per user and room, and per user
    across every room (DMs included), so hopping between rooms does not multiply the rate."""
    settings = get_settings()
    window = settings.chat_window_seconds
    limits = (
        (f"hub:rooms:rate:{room['id']}:{user_id}", settings.chat_messages_per_room, "in a room"),
        (f"hub:rooms:rate:user:{user_id}", settings.chat_messages_per_user, "across all rooms"),
    )
    pipe = get_redis().pipeline(transaction=False)
    for key, _, _ in limits:
        pipe.set(key, 0, ex=window, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
    try:
        results = await pipe.execute()
    except outages.REDIS_ERRORS:
        return  # a rate limit, not a security check: it fails open while Redis is unreachable
    for i, (_, limit, where) in enumerate(limits):
        count, ttl = results[3 * i + 1], results[3 * i + 2]
        if int(count) > limit:
            raise PostRefused(
                "rate",
                f"Slow down: at most {limit} messages per {window} s {where}.",
                max(1, int(ttl)),
            )


def validate_text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise PostRefused("invalid", "text must be a string.")
    text = raw.strip()
    if not text:
        raise PostRefused("invalid", "text cannot be empty.")
    if len(text) > 2000:
        raise PostRefused("invalid", "text is longer than 2000 characters.")
    return text


async def create_message(
    room: dict[str, Any], user: CurrentUser | None, raw_text: Any, *, publish: bool = False
) -> dict[str, Any]:
    """Validate, rate-limit and persist a message; return the publication data (not yet
    published, unless `publish`). In the message's transaction: the author's read marker
    moves to it, the users it mentions who may read the room are notified, and the room's live
    unread counts are queued (outbox rows, delivered after commit; with `publish`, the
    message's own publication comes first)."""
    text = validate_text(raw_text)
    await check_can_post(room, user)
    assert user is not None
    await _rate_limit(room, user.id)
    named = await mentions.find(text)
    async with outbox.transaction():
        row = await fetchrow(
            "WITH m AS (INSERT INTO room_messages (room_id, author_id, text, mentions) "
            "VALUES ($1, $2, $3, $4::jsonb) "
            "RETURNING id, author_id, text, created_at, mentions) "
            "SELECT m.*, u.handle, u.display_name FROM m LEFT JOIN users u ON u.id = m.author_id",
            room["id"],
            uuid.UUID(user.id),
            text,
            json.dumps(named),
        )
        assert row is not None
        data = message_event(room["slug"], row)
        if publish:
            await outbox.publish(channel_of(room["slug"]), data)
        await reads.advance(room["id"], uuid.UUID(user.id), row["id"], row["created_at"])
        await _notify_mentions(room, user.id, row["id"], text, named)
        await reads.enqueue_fanout(room["id"])
    return data


async def _notify_mentions(
    room: dict[str, Any],
    author_id: str,
    message_id: uuid.UUID,
    text: str,
    named: list[dict[str, Any]],
) -> list[uuid.UUID]:
    """Tell the users a message names who may read its room (not in direct conversations:
    the other person reads every message anyway). Once per message and user."""
    if not named or room["kind"] == "dm":
        return []
    readers = [m for m in named if await may_read(room, m["id"])]
    return await mentions.notify(
        readers,
        author_id,
        f"mention:{message_id}",
        text,
        data={"room": room["slug"], "message_id": str(message_id)},
    )


def _mentions(row: dict[str, Any]) -> list[Mention]:
    raw = row.get("mentions") or []
    listed = raw if isinstance(raw, list) else json.loads(raw)
    return [Mention(id=m["id"], handle=m["handle"], url=m["url"]) for m in listed]


def message_out(slug: str, row: dict[str, Any]) -> MessageOut:
    return MessageOut(
        id=str(row["id"]),
        room=slug,
        text=row["text"],
        author=Author(
            id=str(row["author_id"]) if row["author_id"] else None,
            handle=row.get("handle"),
            display_name=row.get("display_name"),
        ),
        created_at=row["created_at"],
        edited_at=row.get("edited_at"),
        mentions=_mentions(row),
    )


def message_event(slug: str, row: dict[str, Any]) -> dict[str, Any]:
    msg = message_out(slug, row)
    return {
        "type": "room.message",
        "id": msg.id,
        "room": slug,
        "text": msg.text,
        "author": {
            "id": msg.author.id,
            "handle": msg.author.handle,
            "display_name": msg.author.display_name,
        },
        "created_at": msg.created_at.isoformat(),
        "mentions": [{"id": m.id, "handle": m.handle, "url": m.url} for m in msg.mentions],
    }


async def post_message(slug: str, user: CurrentUser, text: str) -> MessageOut:
    room = await readable_room(slug, user)
    try:
        data = await create_message(room, user, text, publish=True)
    except PostRefused as exc:
        raise refusal_to_problem(exc) from exc
    return MessageOut(
        id=data["id"],
        room=room["slug"],
        text=data["text"],
        author=Author(**data["author"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        mentions=[Mention(**m) for m in data["mentions"]],
    )


async def list_messages(
    slug: str, user: CurrentUser | None, cursor: str | None, limit: int
) -> tuple[list[MessageOut], str | None]:
    room = await readable_room(slug, user)
    limit = max(1, min(limit or DEFAULT_LIMIT, MAX_LIMIT))
    args: list[Any] = [room["id"], limit + 1]
    where = ""
    if cursor:
        key, row_id = decode_cursor(cursor, "messages", datetime)
        where = "AND (m.created_at, m.id) < ($3, $4)"
        args += [key, row_id]
    rows = await fetch(
        "SELECT m.id, m.author_id, m.text, m.created_at, m.edited_at, m.mentions, u.handle, "
        "u.display_name "
        "FROM room_messages m "
        f"LEFT JOIN users u ON u.id = m.author_id WHERE m.room_id = $1 AND NOT m.deleted {where} "
        "ORDER BY m.created_at DESC, m.id DESC LIMIT $2",
        *args,
    )
    items, next_cursor = page(rows, limit, "messages", lambda r: r["created_at"])
    return [message_out(room["slug"], r) for r in items], next_cursor


async def delete_message(slug: str, user: CurrentUser, message_id: str) -> None:
    room = await readable_room(slug, user)
    try:
        mid = uuid.UUID(message_id)
    except ValueError as exc:
        raise not_found("Message") from exc
    msg = await fetchrow(
        "SELECT id, author_id FROM room_messages WHERE id = $1 AND room_id = $2 AND NOT deleted",
        mid,
        room["id"],
    )
    if msg is None:
        raise not_found("Message")
    is_author = msg["author_id"] is not None and str(msg["author_id"]) == user.id
    is_owner = room["owner_id"] is not None and str(room["owner_id"]) == user.id
    if not (is_author or is_owner or user.is_moderator):
        raise forbidden("Only the author, the room owner or a moderator may delete this message.")
    async with outbox.transaction():
        await remove_message(mid)
        if not is_author:
            await audit.record(
                user.id,
                "message.delete",
                "message",
                mid,
                target_user_id=msg["author_id"],
                details={"room": room["slug"], "as": "room_owner" if is_owner else "moderator"},
            )
    await announce_message_removed(room["slug"], mid)


async def remove_message(message_id: uuid.UUID) -> str | None:
    """Soft-delete a message in the caller's transaction, with the outbox row announcing it
    (`room.message_deleted`); its room's slug, or None when it was already gone. After
    commit, `announce_message_removed` drops it from the channel's history."""
    row = await fetchrow(
        "UPDATE room_messages m SET deleted = true, deleted_at = now() FROM rooms r "
        "WHERE m.id = $1 AND NOT m.deleted AND r.id = m.room_id RETURNING r.slug",
        message_id,
    )
    if row is None:
        return None
    slug = str(row["slug"])
    await outbox.publish(
        channel_of(slug), {"type": "room.message_deleted", "id": str(message_id), "room": slug}
    )
    return slug


async def announce_message_removed(slug: str, message_id: uuid.UUID) -> None:
    """After commit: out of the channel's history too, so neither `history` nor a recovering
    SDK replays it. Best effort: `room.message_deleted` (the outbox) is what clients act on."""
    try:
        await live.history_remove(channel_of(slug), lambda data: _is_message(data, str(message_id)))
    except outages.REDIS_ERRORS:
        log.warning("room.history_remove_failed", room=slug, message_id=str(message_id))


def _is_message(data: Any, message_id: str) -> bool:
    return (
        isinstance(data, dict)
        and data.get("type") == "room.message"
        and data.get("id") == message_id
    )


def is_by(data: Any, user_id: str) -> bool:
    if not isinstance(data, dict):
        return False
    author = data.get("author")
    return (
        data.get("type") == "room.message"
        and isinstance(author, dict)
        and author.get("id") == user_id
    )


async def edit_message(slug: str, user: CurrentUser, message_id: str, raw_text: Any) -> MessageOut:
    """The author rewrites their message (moderators delete, they do not put words in
    anyone's mouth); fans out `room.message_edited`. A banned author cannot edit either."""
    room = await readable_room(slug, user)
    try:
        mid = uuid.UUID(message_id)
    except ValueError as exc:
        raise not_found("Message") from exc
    try:
        text = validate_text(raw_text)
        await check_can_post(room, user)
    except PostRefused as exc:
        raise refusal_to_problem(exc) from exc
    msg = await fetchrow(
        "SELECT author_id FROM room_messages WHERE id = $1 AND room_id = $2 AND NOT deleted",
        mid,
        room["id"],
    )
    if msg is None:
        raise not_found("Message")
    if msg["author_id"] is None or str(msg["author_id"]) != user.id:
        raise forbidden("Only the author may edit this message.")
    named = await mentions.find(text)
    async with outbox.transaction():
        row = await fetchrow(
            "WITH m AS (UPDATE room_messages SET text = $2, edited_at = now(), "
            "mentions = $3::jsonb WHERE id = $1 "
            "RETURNING id, author_id, text, created_at, edited_at, mentions) "
            "SELECT m.*, u.handle, u.display_name FROM m LEFT JOIN users u ON u.id = m.author_id",
            mid,
            text,
            json.dumps(named),
        )
        assert row is not None
        out = message_out(room["slug"], row)
        await outbox.publish(
            channel_of(room["slug"]),
            {
                "type": "room.message_edited",
                "id": out.id,
                "room": room["slug"],
                "text": out.text,
                "edited_at": row["edited_at"].isoformat(),
                "mentions": [{"id": m.id, "handle": m.handle, "url": m.url} for m in out.mentions],
            },
        )
        # Someone newly named in the edit is told; those told before are not told again.
        await _notify_mentions(room, user.id, mid, text, named)
    return out
