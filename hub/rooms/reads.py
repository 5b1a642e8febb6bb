"""Read markers and unread counts per room, live.

Each user has a "last read" marker per room (`room_reads`): it only moves forward, set by
`POST /rooms/{slug}/read` or by posting (you have read what you wrote). A room's unread count
for a user is the number of messages by others after the marker, counted up to `UNREAD_CAP`.

A user *follows* a room's count when they have a marker there or are a member (private
rooms, direct conversations). After a message is posted, `enqueue_fanout` queues one arq job
per room and second (`fanout`), which pushes `room.unread {room, unread_count, last_message}`
to each follower's `notifications#<id>`; so a burst in a busy room costs one pass per second,
not one per message. Moving the marker pushes `room.read` to the user's other tabs.
"""

from __future__ import annotations

import time
import uuid
from bisect import bisect_right
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog

from hub import live, outbox
from hub.platform.db import fetch, fetchrow
from hub.platform.errors import not_found
from hub.platform.pagination import decode_cursor, page
from hub.rooms.schemas import ReadState

log = structlog.get_logger(__name__)

UNREAD_CAP = 100
FANOUT_JOB = "room_unread_fanout"
FOLLOW_DAYS = 30  # a marker untouched this long no longer gets live counts (it still counts)


async def advance(
    room_id: uuid.UUID, user_id: uuid.UUID, message_id: uuid.UUID | None, at: datetime
) -> bool:
    """Move the user's marker in this room forward to `at` (never back); whether it moved."""
    row = await fetchrow(
        "INSERT INTO room_reads AS r (user_id, room_id, last_read_at, last_read_message_id) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, room_id) DO UPDATE SET "
        "last_read_at = EXCLUDED.last_read_at, last_read_message_id = "
        "EXCLUDED.last_read_message_id, updated_at = now() "
        "WHERE r.last_read_at < EXCLUDED.last_read_at RETURNING 1",
        user_id,
        room_id,
        at,
        message_id,
    )
    return row is not None


async def unread_count(room_id: uuid.UUID, user_id: uuid.UUID) -> int:
    row = await fetchrow(
        "SELECT count(*) AS n FROM (SELECT 1 FROM room_messages m WHERE m.room_id = $1 "
        "AND NOT m.deleted AND m.author_id IS DISTINCT FROM $2 AND m.created_at > coalesce("
        "(SELECT last_read_at FROM room_reads WHERE user_id = $2 AND room_id = $1), "
        "'-infinity') LIMIT $3) x",
        room_id,
        user_id,
        UNREAD_CAP,
    )
    return int(row["n"]) if row else 0


async def marker(room_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, Any] | None:
    return await fetchrow(
        "SELECT last_read_at, last_read_message_id FROM room_reads "
        "WHERE user_id = $1 AND room_id = $2",
        user_id,
        room_id,
    )


async def mark_read(room: dict[str, Any], user_id: str, message_id: str | None) -> ReadState:
    """Read up to `message_id` (a message of this room), or up to the newest message."""
    uid = uuid.UUID(user_id)
    if message_id is not None:
        try:
            mid = uuid.UUID(message_id)
        except ValueError as exc:
            raise not_found("This message") from exc
        target = await fetchrow(
            "SELECT id, created_at FROM room_messages WHERE id = $1 AND room_id = $2",
            mid,
            room["id"],
        )
        if target is None:
            raise not_found("This message")
    else:
        target = await fetchrow(
            "SELECT id, created_at FROM room_messages WHERE room_id = $1 AND NOT deleted "
            "ORDER BY created_at DESC, id DESC LIMIT 1",
            room["id"],
        )
    async with outbox.transaction():
        if target is not None:
            await advance(room["id"], uid, target["id"], target["created_at"])
        elif await marker(room["id"], uid) is None:
            # An empty room: start following it from now.
            await advance(room["id"], uid, None, datetime.now(UTC))
        state = await read_state(room, uid)
        await outbox.publish(
            f"notifications#{user_id}", {"type": "room.read", **msgspec.to_builtins(state)}
        )
    return state


async def read_state(room: dict[str, Any], user_id: uuid.UUID) -> ReadState:
    mark = await marker(room["id"], user_id)
    return ReadState(
        room=room["slug"],
        unread_count=await unread_count(room["id"], user_id),
        last_read_at=mark["last_read_at"] if mark else None,
        last_read_message_id=str(mark["last_read_message_id"])
        if mark and mark["last_read_message_id"]
        else None,
    )


async def enqueue_fanout(room_id: uuid.UUID) -> None:
    """In the message's transaction: queue this second's live unread counts for the room (one
    job per room and second, by job id), through the outbox."""
    second = int(time.time())
    await outbox.enqueue(
        FANOUT_JOB, str(room_id), job_id=f"room-unread:{room_id}:{second}", defer_seconds=1.0
    )


async def fanout(room_id: str) -> int:
    """Push each follower of the room its unread count; returns how many were told.

    Reads the room's newest messages once and counts in memory per follower, so a room with
    thousands of followers costs two queries and one batched publish."""
    rid = uuid.UUID(room_id)
    room = await fetchrow("SELECT slug FROM rooms WHERE id = $1", rid)
    if room is None:
        return 0
    recent = await fetch(
        "SELECT m.id, m.author_id, m.text, m.created_at, u.handle, u.display_name "
        "FROM room_messages m LEFT JOIN users u ON u.id = m.author_id "
        "WHERE m.room_id = $1 AND NOT m.deleted ORDER BY m.created_at DESC, m.id DESC LIMIT $2",
        rid,
        UNREAD_CAP,
    )
    if not recent:
        return 0
    recent.reverse()  # oldest first, for bisect by time
    times = [m["created_at"] for m in recent]
    followers = await fetch(
        "SELECT user_id, max(last_read_at) AS last_read_at FROM ("
        "SELECT user_id, last_read_at FROM room_reads WHERE room_id = $1 "
        "AND updated_at > now() - make_interval(days => $2) "
        "UNION ALL SELECT user_id, NULL FROM room_members WHERE room_id = $1) f "
        "GROUP BY user_id",
        rid,
        FOLLOW_DAYS,
    )
    newest = recent[-1]
    last = {
        "id": str(newest["id"]),
        "text": newest["text"][:140],
        "author": {
            "id": str(newest["author_id"]) if newest["author_id"] else None,
            "handle": newest["handle"],
            "display_name": newest["display_name"],
        },
        "created_at": newest["created_at"].isoformat(),
    }
    events: list[tuple[str, dict[str, Any]]] = []
    for f in followers:
        start = 0 if f["last_read_at"] is None else bisect_right(times, f["last_read_at"])
        count = sum(1 for m in recent[start:] if m["author_id"] != f["user_id"])
        if count:
            events.append(
                (
                    f"notifications#{f['user_id']}",
                    {
                        "type": "room.unread",
                        "room": room["slug"],
                        "unread_count": count,
                        "last_message": last,
                    },
                )
            )
    if events:
        try:
            await live.publish_many(events)
        except Exception:  # noqa: BLE001 - counts are right on the next message or reload
            log.warning("rooms.unread_publish_failed", room_id=room_id, exc_info=True)
    return len(events)


async def my_rooms(user_id: str, cursor: str | None, limit: int) -> tuple[list[Any], str | None]:
    """The rooms I am in (member, owner, direct conversations) or follow (a read marker), most
    recently active first, each with my unread count and its last message."""
    from hub.rooms import service
    from hub.rooms.schemas import Author, LastMessage

    uid = uuid.UUID(user_id)
    key, after = decode_cursor(cursor, "my-rooms", datetime) if cursor else (None, None)
    rows = await fetch(
        "SELECT * FROM (SELECT r.id, r.slug, r.title, r.visibility, r.kind, r.owner_id, "
        "r.created_at, o.handle AS owner_handle, rr.last_read_at, rr.last_read_message_id, "
        "lm.id AS last_id, lm.text AS last_text, lm.created_at AS last_created_at, "
        "lm.author_id AS last_author_id, la.handle AS last_handle, "
        "la.display_name AS last_display_name, un.n AS unread, "
        "(mem.user_id IS NOT NULL OR r.owner_id = $1) AS member, "
        "coalesce(lm.created_at, rr.last_read_at, r.created_at) AS activity "
        "FROM (SELECT room_id FROM room_members WHERE user_id = $1 "
        "UNION SELECT room_id FROM room_reads WHERE user_id = $1 "
        "UNION SELECT id FROM rooms WHERE owner_id = $1) mine "
        "JOIN rooms r ON r.id = mine.room_id "
        "LEFT JOIN users o ON o.id = r.owner_id "
        "LEFT JOIN room_members mem ON mem.room_id = r.id AND mem.user_id = $1 "
        "LEFT JOIN room_reads rr ON rr.room_id = r.id AND rr.user_id = $1 "
        "LEFT JOIN LATERAL (SELECT m.id, m.text, m.created_at, m.author_id FROM room_messages m "
        "WHERE m.room_id = r.id AND NOT m.deleted ORDER BY m.created_at DESC, m.id DESC LIMIT 1"
        ") lm ON true "
        "LEFT JOIN users la ON la.id = lm.author_id "
        "LEFT JOIN LATERAL (SELECT count(*) AS n FROM (SELECT 1 FROM room_messages m "
        "WHERE m.room_id = r.id AND NOT m.deleted AND m.author_id IS DISTINCT FROM $1 "
        "AND m.created_at > coalesce(rr.last_read_at, '-infinity') LIMIT $2) x) un ON true "
        "WHERE r.visibility = 'public' OR mem.user_id IS NOT NULL OR r.owner_id = $1) t "
        "WHERE ($3::timestamptz IS NULL OR (activity, id) < ($3, $4)) "
        "ORDER BY activity DESC, id DESC LIMIT $5",
        uid,
        UNREAD_CAP,
        key,
        after,
        limit + 1,
    )
    items, next_cursor = page(rows, limit, "my-rooms", lambda r: r["activity"])
    out = []
    for r in items:
        room = service.room_out(r, bool(r["member"]))
        room.unread_count = int(r["unread"])
        room.last_read_at = r["last_read_at"]
        room.last_read_message_id = (
            str(r["last_read_message_id"]) if r["last_read_message_id"] else None
        )
        if r["last_id"] is not None:
            room.last_message = LastMessage(
                id=str(r["last_id"]),
                text=r["last_text"][:140],
                author=Author(
                    id=str(r["last_author_id"]) if r["last_author_id"] else None,
                    handle=r["last_handle"],
                    display_name=r["last_display_name"],
                ),
                created_at=r["last_created_at"],
            )
        out.append(room)
    await service.add_peers(out, user_id)
    return out, next_cursor
