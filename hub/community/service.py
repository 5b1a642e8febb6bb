"""Creators and follows: profiles with counts, idempotent follow/unfollow, who I follow.

Counts live in `creator_stats` and change in the follow's own transaction only when a follow
row was really inserted or deleted; both counters are upserted in one statement, rows in id
order, so two users following each other at once cannot deadlock.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import structlog

from hub import outbox
from hub.community import blocks, notifications
from hub.community.schemas import CreatorOut, FollowingOut, FollowingPage, FollowState
from hub.platform.db import fetch, fetchrow, transaction
from hub.platform.errors import forbidden, not_found, validation_error
from hub.platform.pagination import decode_cursor, page
from hub.prompts import listing as prompt_listing

log = structlog.get_logger(__name__)


async def _creator_row(handle: str) -> dict[str, Any]:
    row = await fetchrow(
        "SELECT u.id, u.handle, u.display_name, u.bio, u.created_at, "
        "coalesce(s.follower_count, 0) AS follower_count, "
        "coalesce(s.following_count, 0) AS following_count "
        "FROM users u LEFT JOIN creator_stats s ON s.user_id = u.id "
        "WHERE lower(u.handle) = lower($1) AND u.deleted_at IS NULL",
        handle,
    )
    if row is None:
        raise not_found(f"The creator '{handle}'")
    return row


async def get_creator(
    handle: str, viewer_id: str | None, cursor: str | None, limit: int
) -> CreatorOut:
    row = await _creator_row(handle)
    counts = await fetchrow(
        "SELECT count(*) AS prompts, "
        "EXISTS (SELECT 1 FROM follows WHERE follower_id = $2 AND followee_id = $1) AS following "
        "FROM prompts WHERE owner_id = $1 AND status = 'active'",
        row["id"],
        uuid.UUID(viewer_id) if viewer_id else None,
    )
    assert counts is not None
    page_ = await prompt_listing.list_prompts(
        prompt_listing.ListQuery(owner_id=str(row["id"]), cursor=cursor, limit=limit)
    )
    return CreatorOut(
        id=str(row["id"]),
        handle=row["handle"],
        display_name=row["display_name"],
        bio=row["bio"],
        created_at=row["created_at"],
        follower_count=row["follower_count"],
        following_count=row["following_count"],
        prompt_count=counts["prompts"],
        following=bool(counts["following"]),
        prompts=page_,
    )


async def _bump_counts(follower: uuid.UUID, followee: uuid.UUID, delta: int) -> None:
    """Change both users' counters by `delta`, locking their rows in id order."""
    rows = sorted([(followee, delta, 0), (follower, 0, delta)], key=lambda r: r[0])
    if delta > 0:
        await fetch(
            "INSERT INTO creator_stats AS s (user_id, follower_count, following_count) "
            "SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[]) "
            "ON CONFLICT (user_id) DO UPDATE SET "
            "follower_count = s.follower_count + EXCLUDED.follower_count, "
            "following_count = s.following_count + EXCLUDED.following_count",
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
        )
        return
    for user_id, followers, following in rows:  # rows exist: the follow being removed made them
        await fetch(
            "UPDATE creator_stats SET follower_count = follower_count + $2, "
            "following_count = following_count + $3 WHERE user_id = $1",
            user_id,
            followers,
            following,
        )


async def _follower_count(user_id: uuid.UUID) -> int:
    row = await fetchrow("SELECT follower_count FROM creator_stats WHERE user_id = $1", user_id)
    return int(row["follower_count"]) if row else 0


async def follow(user_id: str, handle: str) -> FollowState:
    """Follow a creator. Idempotent: following again changes nothing."""
    me = uuid.UUID(user_id)
    target = await _creator_row(handle)
    if target["id"] == me:
        raise validation_error("handle", "You cannot follow yourself.")
    if await blocks.is_blocked(target["id"], me):
        raise forbidden(f"@{target['handle']} does not accept you as a follower.")
    async with outbox.transaction():  # the notification goes out if the follow commits
        inserted = await fetch(
            "INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            me,
            target["id"],
        )
        if inserted:
            await _bump_counts(me, target["id"], 1)
            await notifications.notify(target["id"], "follower.new", f"follower:{me}", actor_id=me)
        count = await _follower_count(target["id"])
    if inserted:
        log.info("creator.followed", user_id=user_id, followee_id=str(target["id"]))
    return FollowState(handle=target["handle"], following=True, follower_count=count)


async def remove_follow(follower: uuid.UUID, followee: uuid.UUID) -> bool:
    """End a follow with its counters (in the caller's transaction); whether there was one."""
    deleted = await fetch(
        "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2 RETURNING 1",
        follower,
        followee,
    )
    if deleted:
        await _bump_counts(follower, followee, -1)
    return bool(deleted)


async def unfollow(user_id: str, handle: str) -> FollowState:
    """Stop following a creator. Idempotent: unfollowing someone you do not follow is fine."""
    me = uuid.UUID(user_id)
    target = await _creator_row(handle)
    async with transaction():
        await remove_follow(me, target["id"])
        count = await _follower_count(target["id"])
    return FollowState(handle=target["handle"], following=False, follower_count=count)


async def list_following(user_id: str, cursor: str | None, limit: int) -> FollowingPage:
    key, after = decode_cursor(cursor, "following", datetime) if cursor else (None, None)
    rows = await fetch(
        "SELECT u.id, u.handle, u.display_name, f.created_at "
        "FROM follows f JOIN users u ON u.id = f.followee_id "
        "WHERE f.follower_id = $1 AND u.deleted_at IS NULL "
        "AND ($2::timestamptz IS NULL OR (f.created_at, f.followee_id) < ($2, $3)) "
        "ORDER BY f.created_at DESC, f.followee_id DESC LIMIT $4",
        uuid.UUID(user_id),
        key,
        after,
        limit + 1,
    )
    return _follows_page(rows, limit, "following")


async def list_followers(handle: str, cursor: str | None, limit: int) -> FollowingPage:
    """Who follows a creator, newest first (public, like the follower count)."""
    creator = await _creator_row(handle)
    key, after = decode_cursor(cursor, "followers", datetime) if cursor else (None, None)
    rows = await fetch(
        "SELECT u.id, u.handle, u.display_name, f.created_at "
        "FROM follows f JOIN users u ON u.id = f.follower_id "
        "WHERE f.followee_id = $1 AND u.deleted_at IS NULL "
        "AND ($2::timestamptz IS NULL OR (f.created_at, f.follower_id) < ($2, $3)) "
        "ORDER BY f.created_at DESC, f.follower_id DESC LIMIT $4",
        creator["id"],
        key,
        after,
        limit + 1,
    )
    return _follows_page(rows, limit, "followers")


def _follows_page(rows: list[dict[str, Any]], limit: int, kind: str) -> FollowingPage:
    """One page of people (who you follow, or who follows a creator), newest follow first."""
    items, next_cursor = page(rows, limit, kind, lambda r: r["created_at"])
    return FollowingPage(
        items=[
            FollowingOut(
                id=str(r["id"]),
                handle=r["handle"],
                display_name=r["display_name"],
                followed_at=r["created_at"],
            )
            for r in items
        ],
        next_cursor=next_cursor,
    )
