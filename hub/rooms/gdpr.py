"""A user's rooms data under the GDPR: their export (GET /me/export) and their erasure.

Why a module of its own: these are the rooms domain's answers to the account hooks; the
erasure takes the user's messages out of the database and of the channels' Redis history.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from hub import live
from hub.platform.db import fetch
from hub.rooms.messages import is_by
from hub.rooms.service import channel_of

log = structlog.get_logger(__name__)


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
            await live.history_remove(channel_of(row["slug"]), lambda d: is_by(d, user_id))
        except Exception:  # noqa: BLE001 - Redis trouble must not undo the erasure itself
            log.warning("rooms.erase_history_failed", room=row["slug"], exc_info=True)
    await fetch("DELETE FROM room_members WHERE user_id = $1 AND role <> 'owner'", uid)
    await fetch("DELETE FROM room_reads WHERE user_id = $1", uid)
