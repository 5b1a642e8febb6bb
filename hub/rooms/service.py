"""Chat rooms: who may read and post, messages (persisted, then fanned out), bans, members.

A REST `POST /rooms/{slug}/messages` and a realtime `publish` to `rooms:<slug>` take the same
path (`post_message`): validated, rate-limited, persisted, then published. Implicit rooms are
created on first use: `lobby` (from the migration), `creator-<handle>` for every creator and
`prompt-<id>` for every active public-listed prompt.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog

from hub import live, outbox
from hub.community import mentions
from hub.live.channels import UNSUBSCRIBE_ACCESS_REVOKED, UNSUBSCRIBE_BANNED
from hub.moderation import audit, suspensions
from hub.platform import outages
from hub.platform.auth import CurrentUser
from hub.platform.db import fetch, fetchrow, transaction
from hub.platform.errors import Problem, bad_request, conflict, forbidden, not_found, too_many
from hub.platform.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, page
from hub.platform.redis import get_redis
from hub.platform.settings import get_settings
from hub.rooms import reads
from hub.rooms.schemas import Author, Mention, MessageOut, RoomOut

log = structlog.get_logger(__name__)

RESERVED_PREFIXES = ("creator-", "prompt-", "dm-")
RESERVED_SLUGS = frozenset({"lobby", "admin", "system"})

_ROOM_COLUMNS = "r.id, r.slug, r.title, r.visibility, r.kind, r.owner_id, r.created_at, u.handle AS owner_handle"


def channel_of(slug: str) -> str:
    return f"rooms:{slug}"


def room_out(row: dict[str, Any], is_member: bool = False) -> RoomOut:
    return RoomOut(
        id=str(row["id"]),
        slug=row["slug"],
        title=row["title"],
        visibility=row["visibility"],
        kind=row["kind"],
        channel=channel_of(row["slug"]),
        owner_handle=row.get("owner_handle"),
        created_at=row["created_at"],
        is_member=is_member,
        typing_channel=f"typing:{row['slug']}",
    )


async def _select_room(slug: str) -> dict[str, Any] | None:
    return await fetchrow(
        f"SELECT {_ROOM_COLUMNS} FROM rooms r LEFT JOIN users u ON u.id = r.owner_id WHERE r.slug = $1",
        slug,
    )


async def _create_implicit(slug: str) -> None:
    if slug.startswith("dm-"):
        return  # direct conversations are created by their first message (hub.rooms.dms)
    if slug.startswith("creator-"):
        owner = await fetchrow(
            "SELECT id, handle, display_name FROM users WHERE lower(handle) = $1 AND deleted_at IS NULL",
            slug.removeprefix("creator-"),
        )
        if owner is None:
            return
        title, kind, owner_id = f"{owner['display_name']}'s room", "creator", owner["id"]
    elif slug.startswith("prompt-"):
        try:
            prompt_id = uuid.UUID(slug.removeprefix("prompt-"))
        except ValueError:
            return
        prompt = await fetchrow(
            "SELECT id, owner_id, title FROM prompts WHERE id = $1 AND status = 'active'", prompt_id
        )
        if prompt is None:
            return
        title, kind, owner_id = f"About: {prompt['title']}"[:120], "prompt", prompt["owner_id"]
    else:
        return
    await fetch(
        "INSERT INTO rooms (slug, title, visibility, kind, owner_id) VALUES ($1, $2, 'public', $3, $4) "
        "ON CONFLICT (slug) DO NOTHING",
        slug,
        title,
        kind,
        owner_id,
    )


async def find_room(slug: str) -> dict[str, Any] | None:
    """The room, creating an implicit creator/prompt room on first use; None if there is none."""
    slug = slug.lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{1,63}", slug):
        return None
    row = await _select_room(slug)
    if row is None and slug.startswith(RESERVED_PREFIXES):
        await _create_implicit(slug)
        row = await _select_room(slug)
    return row


async def is_member(room: dict[str, Any], user_id: str | None) -> bool:
    if user_id is None:
        return False
    if room["owner_id"] is not None and str(room["owner_id"]) == user_id:
        return True
    row = await fetchrow(
        "SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2",
        room["id"],
        uuid.UUID(user_id),
    )
    return row is not None


async def can_read(room: dict[str, Any], user: CurrentUser | None) -> bool:
    if room["visibility"] == "public":
        return True
    if user is None:
        return False
    if room["kind"] == "dm":  # the two people only; moderators see reported messages
        return await is_member(room, user.id)
    return user.is_moderator or await is_member(room, user.id)


async def may_read(room: dict[str, Any], user_id: str) -> bool:
    """Whether a user (not the one asking: e.g. someone mentioned) may read the room."""
    return room["visibility"] == "public" or await is_member(room, user_id)


async def readable_room(slug: str, user: CurrentUser | None) -> dict[str, Any]:
    """The room if `user` may read it; otherwise 404 (a private room's existence is not revealed)."""
    room = await find_room(slug)
    if room is None or not await can_read(room, user):
        raise not_found(f"Room '{slug}'")
    return room


async def banned_until(room: dict[str, Any], user_id: str) -> datetime | None:
    row = await fetchrow(
        "SELECT until FROM room_bans WHERE room_id = $1 AND user_id = $2 AND until > now()",
        room["id"],
        uuid.UUID(user_id),
    )
    return row["until"] if row else None


class PostRefused(Exception):
    """Why a message may not be posted; `kind` maps to an HTTP status or a protocol error code."""

    def __init__(self, kind: str, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.kind, self.message, self.retry_after = kind, message, retry_after


async def check_can_post(room: dict[str, Any], user: CurrentUser | None) -> None:
    if user is None:
        raise PostRefused("unauthorized", "Sign in to post messages.")
    if room["visibility"] == "private" and not (
        user.is_moderator or await is_member(room, user.id)
    ):
        raise PostRefused("forbidden", "Only members of this private room may post.")
    until = await banned_until(room, user.id)
    if until is not None:
        raise PostRefused("forbidden", f"You are banned from this room until {until.isoformat()}.")
    suspended = await suspensions.suspended_until(user.id)
    if suspended is not None:
        raise PostRefused("forbidden", suspensions.suspended_message(suspended))
    if room["kind"] == "dm":
        from hub.rooms import dms

        await dms.check_not_blocked(room, user.id)


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


def refusal_to_problem(exc: PostRefused) -> Problem:
    if exc.kind == "unauthorized":
        return Problem(401, "unauthorized", "Not signed in", exc.message)
    if exc.kind == "forbidden":
        return forbidden(exc.message)
    if exc.kind == "rate":
        return too_many(exc.message, exc.retry_after)
    return bad_request(exc.message, "text")


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


def _is_by(data: Any, user_id: str) -> bool:
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


async def can_moderate(room: dict[str, Any], user: CurrentUser | None) -> bool:
    """The room's owner and site moderators delete others' messages and ban."""
    if user is None:
        return False
    return user.is_moderator or (room["owner_id"] is not None and str(room["owner_id"]) == user.id)


async def ban(slug: str, user: CurrentUser, handle: str, minutes: int) -> tuple[str, datetime]:
    room = await readable_room(slug, user)
    is_owner = room["owner_id"] is not None and str(room["owner_id"]) == user.id
    if not (is_owner or user.is_moderator):
        raise forbidden("Only the room owner or a moderator may ban.")
    target = await fetchrow(
        "SELECT id, handle FROM users WHERE lower(handle) = lower($1) AND deleted_at IS NULL",
        handle,
    )
    if target is None:
        raise not_found(f"User '{handle}'")
    if room["owner_id"] is not None and target["id"] == room["owner_id"]:
        raise conflict("The room owner cannot be banned from their own room.")
    if str(target["id"]) == user.id:
        raise conflict("You cannot ban yourself.")
    until = datetime.now(UTC) + timedelta(minutes=minutes)
    async with transaction():
        await fetch(
            "INSERT INTO room_bans (room_id, user_id, until, created_by) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (room_id, user_id) DO UPDATE SET until = EXCLUDED.until, created_by = EXCLUDED.created_by, "
            "created_at = now()",
            room["id"],
            target["id"],
            until,
            uuid.UUID(user.id),
        )
        await audit.record(
            user.id,
            "room.ban",
            "user",
            target["id"],
            target_user_id=target["id"],
            details={
                "room": room["slug"],
                "minutes": minutes,
                "until": until.isoformat(),
                "as": "room_owner" if is_owner else "moderator",
            },
        )
    # Out of the room's live channel at once (and of its presence); can_subscribe refuses them
    # until the ban ends.
    await live.unsubscribe(str(target["id"]), channel_of(room["slug"]), UNSUBSCRIBE_BANNED)
    return target["handle"], until


async def list_rooms(
    user: CurrentUser | None, cursor: str | None, limit: int
) -> tuple[list[RoomOut], str | None]:
    limit = max(1, min(limit or DEFAULT_LIMIT, MAX_LIMIT))
    args: list[Any] = [limit + 1, uuid.UUID(user.id) if user else None]
    where = ""
    if cursor:
        key, row_id = decode_cursor(cursor, "rooms", datetime)
        where = "AND (r.created_at, r.id) < ($3, $4)"
        args += [key, row_id]
    rows = await fetch(
        f"SELECT {_ROOM_COLUMNS}, (r.owner_id = $2 OR mem.user_id IS NOT NULL) AS member FROM rooms r "
        "LEFT JOIN users u ON u.id = r.owner_id "
        "LEFT JOIN room_members mem ON mem.room_id = r.id AND mem.user_id = $2 "
        f"WHERE (r.visibility = 'public' OR r.owner_id = $2 OR mem.user_id IS NOT NULL) {where} "
        "ORDER BY r.created_at DESC, r.id DESC LIMIT $1",
        *args,
    )
    items, next_cursor = page(rows, limit, "rooms", lambda r: r["created_at"])
    out = [room_out(r, bool(r["member"])) for r in items]
    if user is not None:
        await add_peers(out, user.id)
    return out, next_cursor


async def add_peers(rooms: list[RoomOut], user_id: str) -> None:
    """Direct conversations are titled by, and carry, the other person."""
    dm_ids = [uuid.UUID(r.id) for r in rooms if r.kind == "dm"]
    if not dm_ids:
        return
    rows = await fetch(
        "SELECT m.room_id, u.id, u.handle, u.display_name FROM room_members m "
        "JOIN users u ON u.id = m.user_id WHERE m.room_id = ANY($1::uuid[]) AND m.user_id <> $2",
        dm_ids,
        uuid.UUID(user_id),
    )
    peers = {str(r["room_id"]): r for r in rows}
    for room in rooms:
        peer = peers.get(room.id)
        if peer is not None:
            room.peer = Author(
                id=str(peer["id"]), handle=peer["handle"], display_name=peer["display_name"]
            )
            room.title = f"@{peer['handle']}"


async def room_for_viewer(room: dict[str, Any], user: CurrentUser | None) -> RoomOut:
    """GET /rooms/{slug}: the room, with the viewer's membership, read marker and unread count."""
    out = room_out(room, await is_member(room, user.id if user else None))
    if user is None:
        return out
    await add_peers([out], user.id)
    state = await reads.read_state(room, uuid.UUID(user.id))
    out.unread_count = state.unread_count
    out.last_read_at = state.last_read_at
    out.last_read_message_id = state.last_read_message_id
    return out


async def create_room(user: CurrentUser, slug: str, title: str, visibility: str) -> RoomOut:
    slug = slug.lower()
    if slug in RESERVED_SLUGS or slug.startswith(RESERVED_PREFIXES):
        raise conflict(f"The slug '{slug}' is reserved; choose another.", "slug-taken")
    title = title.strip()
    if not title:
        raise bad_request("title cannot be blank.", "title")
    try:
        async with transaction():
            row = await fetchrow(
                "INSERT INTO rooms (slug, title, visibility, kind, owner_id) VALUES ($1, $2, $3, 'custom', $4) "
                "RETURNING id",
                slug,
                title,
                visibility,
                uuid.UUID(user.id),
            )
            assert row is not None
            await fetch(
                "INSERT INTO room_members (room_id, user_id, role) VALUES ($1, $2, 'owner')",
                row["id"],
                uuid.UUID(user.id),
            )
    except asyncpg.exceptions.UniqueViolationError as exc:
        raise conflict(
            f"A room '{slug}' already exists; choose another slug.", "slug-taken"
        ) from exc
    room = await _select_room(slug)
    assert room is not None
    return room_out(room, True)


async def add_member(slug: str, user: CurrentUser, handle: str) -> None:
    room = await readable_room(slug, user)
    if room["kind"] == "dm":
        raise conflict("A direct conversation is between its two people only.")
    is_owner = room["owner_id"] is not None and str(room["owner_id"]) == user.id
    if not (is_owner or user.is_moderator):
        raise forbidden("Only the room owner or a moderator may add members.")
    target = await fetchrow(
        "SELECT id FROM users WHERE lower(handle) = lower($1) AND deleted_at IS NULL", handle
    )
    if target is None:
        raise not_found(f"User '{handle}'")
    await fetch(
        "INSERT INTO room_members (room_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        room["id"],
        target["id"],
    )


async def remove_member(slug: str, user: CurrentUser, handle: str) -> None:
    room = await readable_room(slug, user)
    if room["kind"] == "dm":
        raise conflict("A direct conversation cannot be left; block the other person to stop it.")
    target = await fetchrow("SELECT id FROM users WHERE lower(handle) = lower($1)", handle)
    if target is None:
        raise not_found(f"User '{handle}'")
    is_owner = room["owner_id"] is not None and str(room["owner_id"]) == user.id
    if not (is_owner or user.is_moderator or str(target["id"]) == user.id):
        raise forbidden(
            "Only the room owner, a moderator or the member themself may remove a member."
        )
    if room["owner_id"] is not None and target["id"] == room["owner_id"]:
        raise conflict("The owner cannot leave their own room.")
    await fetch(
        "DELETE FROM room_members WHERE room_id = $1 AND user_id = $2", room["id"], target["id"]
    )
    if room["visibility"] == "private":  # no more unread counts of a room they cannot read
        await fetch(
            "DELETE FROM room_reads WHERE room_id = $1 AND user_id = $2", room["id"], target["id"]
        )
    if room["visibility"] == "private":  # a removed member may no longer read it: out, now
        await live.unsubscribe(
            str(target["id"]), channel_of(room["slug"]), UNSUBSCRIBE_ACCESS_REVOKED
        )


async def export_for_user(user_id: str) -> dict[str, Any]:
    uid = uuid.UUID(user_id)
    messages = await fetch(
        "SELECT m.id, r.slug AS room, m.text, m.created_at, m.deleted FROM room_messages m "
        "JOIN rooms r ON r.id = m.room_id WHERE m.author_id = $1 ORDER BY m.created_at",
        uid,
    )
    rooms = await fetch(
        "SELECT r.slug, mem.role, mem.joined_at FROM room_members mem JOIN rooms r ON r.id = mem.room_id "
        "WHERE mem.user_id = $1 ORDER BY mem.joined_at",
        uid,
    )
    markers = await fetch(
        "SELECT r.slug, rr.last_read_at, rr.last_read_message_id FROM room_reads rr "
        "JOIN rooms r ON r.id = rr.room_id WHERE rr.user_id = $1 ORDER BY rr.updated_at",
        uid,
    )
    return {"messages": messages, "memberships": rooms, "read_markers": markers}


async def erase_for_user(user_id: str) -> None:
    uid = uuid.UUID(user_id)
    recent = await fetch(
        "SELECT DISTINCT r.slug FROM room_messages m JOIN rooms r ON r.id = m.room_id "
        "WHERE m.author_id = $1 AND m.created_at > now() - interval '1 day 1 hour'",
        uid,
    )
    await fetch(
        "UPDATE room_messages SET text = '[deleted]', deleted = true, deleted_at = now() WHERE author_id = $1",
        uid,
    )
    # Their messages leave the rooms' Redis history (kept 24 h) too, not only the database.
    for row in recent:
        try:
            await live.history_remove(channel_of(row["slug"]), lambda d: _is_by(d, user_id))
        except Exception:  # noqa: BLE001 - Redis trouble must not undo the erasure itself
            log.warning("rooms.erase_history_failed", room=row["slug"], exc_info=True)
    await fetch("DELETE FROM room_members WHERE user_id = $1 AND role <> 'owner'", uid)
    await fetch("DELETE FROM room_reads WHERE user_id = $1", uid)
