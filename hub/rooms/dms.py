"""Direct messages: a private room of exactly two people, created by the first message.

The room's slug is derived from the pair (`dm-` + a hash of both user ids, order-free), so
either person's first message finds or creates the same room, also when both write at once
(the slug is unique). After that it is an ordinary private room: `rooms:<slug>` live, the
same history, posting rules and unread counts; only its two members may read it (moderators
see a reported message through the moderation queue, not by reading the room). Neither may
write while one blocks the other. The other person is told once, when the room is created
(`dm.new`).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import structlog

from hub import outbox
from hub.community import blocks, notifications
from hub.platform.auth import CurrentUser
from hub.platform.db import fetch, fetchrow, transaction
from hub.platform.errors import forbidden, not_found, validation_error
from hub.rooms import messages, service
from hub.rooms.schemas import Author, DirectMessageOut, Mention, MessageOut

log = structlog.get_logger(__name__)

PREFIX = "dm-"


def dm_slug(a: uuid.UUID, b: uuid.UUID) -> str:
    low, high = sorted((str(a), str(b)))
    return PREFIX + hashlib.sha256(f"{low}:{high}".encode()).hexdigest()[:40]


async def peer_of(room: dict[str, Any], user_id: str) -> dict[str, Any] | None:
    """The other member of a direct conversation."""
    return await fetchrow(
        "SELECT u.id, u.handle, u.display_name FROM room_members m JOIN users u ON u.id = m.user_id "
        "WHERE m.room_id = $1 AND m.user_id <> $2 LIMIT 1",
        room["id"],
        uuid.UUID(user_id),
    )


async def check_not_blocked(room: dict[str, Any], user_id: str) -> None:
    """Raise PostRefused when either person of this conversation blocked the other."""
    peer = await peer_of(room, user_id)
    if peer is not None and await blocks.blocked_between(user_id, peer["id"]):
        raise service.PostRefused(
            "forbidden", f"You cannot send direct messages to @{peer['handle']}."
        )


async def send(user: CurrentUser, handle: str, text: str) -> DirectMessageOut:
    """Send a direct message to `handle`, creating the conversation on the first one."""
    me = uuid.UUID(user.id)
    peer = await fetchrow(
        "SELECT id, handle, display_name FROM users WHERE lower(handle) = lower($1) "
        "AND deleted_at IS NULL",
        handle,
    )
    if peer is None:
        raise not_found(f"The user '{handle}'")
    if peer["id"] == me:
        raise validation_error("handle", "You cannot send a direct message to yourself.")
    if await blocks.blocked_between(me, peer["id"]):
        raise forbidden(f"You cannot send direct messages to @{peer['handle']}.")
    try:
        messages.validate_text(text)
    except service.PostRefused as exc:
        raise service.refusal_to_problem(exc) from exc
    slug = dm_slug(me, peer["id"])
    async with transaction():
        created = await fetch(
            "INSERT INTO rooms (slug, title, visibility, kind) "
            "VALUES ($1, 'Direct messages', 'private', 'dm') ON CONFLICT (slug) DO NOTHING "
            "RETURNING id",
            slug,
        )
        room_row = await fetchrow("SELECT id FROM rooms WHERE slug = $1", slug)
        assert room_row is not None
        await fetch(
            "INSERT INTO room_members (room_id, user_id) SELECT $1, u FROM unnest($2::uuid[]) u "
            "ON CONFLICT DO NOTHING",
            room_row["id"],
            [me, peer["id"]],
        )
    room = await service.find_room(slug)
    assert room is not None
    try:
        data = await messages.create_message(room, user, text, publish=True)
    except service.PostRefused as exc:
        raise service.refusal_to_problem(exc) from exc
    if created:
        log.info("rooms.dm_started", user_id=user.id, room=slug)
        async with outbox.transaction():
            await notifications.notify(
                peer["id"], "dm.new", f"dm:{room['id']}", actor_id=me, data={"room": slug}
            )
    out = service.room_out(room, True)
    out.title = f"@{peer['handle']}"
    out.peer = Author(id=str(peer["id"]), handle=peer["handle"], display_name=peer["display_name"])
    return DirectMessageOut(
        room=out,
        message=MessageOut(
            id=data["id"],
            room=slug,
            text=data["text"],
            author=Author(**data["author"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            mentions=[Mention(**m) for m in data.get("mentions", [])],
        ),
    )
