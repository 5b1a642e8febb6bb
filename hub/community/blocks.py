"""Blocking: a user you block cannot follow you, mention you or send you direct messages.

Blocking removes their follow of you (with the counters, in the same transaction). Checks
are one primary-key lookup each, made where a follow, a mention notification or a direct
message is created; notifications from a blocked actor are dropped in `notify` itself.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog

from hub.community.schemas import BlockedOut, BlockedPage, BlockState
from hub.platform.db import fetch, fetchrow, transaction
from hub.platform.errors import not_found, validation_error
from hub.platform.pagination import decode_cursor, page

log = structlog.get_logger(__name__)


async def _target(handle: str) -> dict:
    row = await fetchrow(
        "SELECT id, handle FROM users WHERE lower(handle) = lower($1) AND deleted_at IS NULL",
        handle,
    )
    if row is None:
        raise not_found(f"The user '{handle}'")
    return row


async def is_blocked(blocker_id: uuid.UUID | str, blocked_id: uuid.UUID | str) -> bool:
    """Whether `blocker_id` has blocked `blocked_id`."""
    row = await fetchrow(
        "SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = $2",
        _uid(blocker_id),
        _uid(blocked_id),
    )
    return row is not None


async def blocked_between(a: uuid.UUID | str, b: uuid.UUID | str) -> bool:
    """Whether either of the two has blocked the other (direct messages need neither)."""
    row = await fetchrow(
        "SELECT 1 FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2) "
        "OR (blocker_id = $2 AND blocked_id = $1)",
        _uid(a),
        _uid(b),
    )
    return row is not None


async def blockers_of(actor_id: uuid.UUID | str, user_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `user_ids` who have blocked `actor_id`."""
    rows = await fetch(
        "SELECT blocker_id FROM blocks WHERE blocked_id = $1 AND blocker_id = ANY($2::uuid[])",
        _uid(actor_id),
        user_ids,
    )
    return {r["blocker_id"] for r in rows}


def _uid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


async def block(user_id: str, handle: str) -> tuple[BlockState, bool]:
    """Block a user (idempotent); returns (state, newly blocked). Their follow of you ends."""
    from hub.community import service

    me = uuid.UUID(user_id)
    target = await _target(handle)
    if target["id"] == me:
        raise validation_error("handle", "You cannot block yourself.")
    async with transaction():
        inserted = await fetch(
            "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            me,
            target["id"],
        )
        if inserted:
            await service.remove_follow(target["id"], me)
    if inserted:
        log.info("community.blocked", user_id=user_id, blocked_id=str(target["id"]))
    return BlockState(handle=target["handle"], blocked=True), bool(inserted)


async def unblock(user_id: str, handle: str) -> BlockState:
    target = await _target(handle)
    await fetch(
        "DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2",
        uuid.UUID(user_id),
        target["id"],
    )
    return BlockState(handle=target["handle"], blocked=False)


async def list_blocked(user_id: str, cursor: str | None, limit: int) -> BlockedPage:
    key, after = decode_cursor(cursor, "blocks", datetime) if cursor else (None, None)
    rows = await fetch(
        "SELECT u.id, u.handle, u.display_name, b.created_at FROM blocks b "
        "JOIN users u ON u.id = b.blocked_id WHERE b.blocker_id = $1 "
        "AND ($2::timestamptz IS NULL OR (b.created_at, b.blocked_id) < ($2, $3)) "
        "ORDER BY b.created_at DESC, b.blocked_id DESC LIMIT $4",
        uuid.UUID(user_id),
        key,
        after,
        limit + 1,
    )
    items, next_cursor = page(rows, limit, "blocks", lambda r: r["created_at"])
    return BlockedPage(
        items=[
            BlockedOut(
                id=str(r["id"]),
                handle=r["handle"],
                display_name=r["display_name"],
                blocked_at=r["created_at"],
            )
            for r in items
        ],
        next_cursor=next_cursor,
    )
