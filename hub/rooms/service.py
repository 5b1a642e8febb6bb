"""Chat rooms: finding them, who may read, post in and moderate them, listing, creating,
members and bans. The messages are `hub.rooms.messages`; a user's data under the GDPR
`hub.rooms.gdpr`.

Implicit rooms are created on first use: `lobby` (from the migration), `creator-<handle>` for
every creator and `prompt-<id>` for every active public-listed prompt.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog

from hub import live
from hub.live.channels import UNSUBSCRIBE_ACCESS_REVOKED, UNSUBSCRIBE_BANNED
from hub.moderation import audit, suspensions
from hub.platform.auth import CurrentUser
from hub.platform.db import fetch, fetchrow, transaction
from hub.platform.errors import Problem, bad_request, conflict, forbidden, not_found, too_many
from hub.platform.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, page
from hub.rooms import reads
from hub.rooms.schemas import Author, RoomOut

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


def refusal_to_problem(exc: PostRefused) -> Problem:
    if exc.kind == "unauthorized":
        return Problem(401, "unauthorized", "Not signed in", exc.message)
    if exc.kind == "forbidden":
        return forbidden(exc.message)
    if exc.kind == "rate":
        return too_many(exc.message, exc.retry_after)
    return bad_request(exc.message, "text")


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
