"""The activity feed: fan-out on write.

A creator's new prompt (version 1) or new version becomes one `feed_items` row per follower,
written by arq jobs in batches of FANOUT_BATCH followers (keyset over follower ids). Each batch
is its own job with a deterministic job id, and `UNIQUE (user_id, prompt_id, version)` makes
a re-delivered batch a no-op, so the fan-out is idempotent per item. Only rows really inserted
are published to `feed#<user_id>`, through outbox rows written in the batch's own transaction
together with the followers' notifications and the next batch's job: a batch's items reach
their followers (and the fan-out goes on) once that transaction commits, even if Redis is
down at that moment.

Huge follower counts: batches keep every job short and let several workers share one fan-out;
beyond ~100k followers the plan is fan-out on read for those creators (their items merged into
`GET /me/feed` at read time from an index on prompts by owner), keeping writes bounded.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
import structlog

from hub import outbox
from hub.community import notifications
from hub.community.schemas import FeedItemOut, FeedPage, PromptRef, UserRef
from hub.platform.db import fetch, fetchrow
from hub.platform.pagination import decode_cursor, page
from hub.prompts.events import enqueue_prompt_fanout

log = structlog.get_logger(__name__)

FANOUT_BATCH = 1000


def _kind(version: int) -> str:
    return "prompt.created" if version == 1 else "prompt.version"


def _item(row: dict[str, Any]) -> FeedItemOut:
    return FeedItemOut(
        id=str(row["id"]),
        type=row["kind"],
        actor=UserRef(
            id=str(row["actor_id"]),
            handle=row["actor_handle"],
            display_name=row["actor_display_name"],
        ),
        prompt=PromptRef(
            id=str(row["prompt_id"]),
            title=row["title"],
            private_mode=row["private_mode"],
            price_cents=row["price_cents"],
            model=row["model"],
            tags=list(row["tags"] or []),
        ),
        version=row["version"],
        created_at=row["created_at"],
    )


async def fanout_batch(
    prompt_id: str, version: int, event_at: datetime, after: str | None
) -> str | None:
    """Write one batch of feed items; returns the follower id to continue after, or None."""
    prompt = await fetchrow(
        "SELECT p.id, p.owner_id AS actor_id, u.handle AS actor_handle, "
        "u.display_name AS actor_display_name, p.title, p.private_mode, p.price_cents, p.model, "
        "p.tags, p.status, p.version AS current_version "
        "FROM prompts p JOIN users u ON u.id = p.owner_id WHERE p.id = $1",
        uuid.UUID(prompt_id),
    )
    if prompt is None or prompt["status"] != "active" or version > prompt["current_version"]:
        return None
    followers = await fetch(
        "SELECT follower_id FROM follows WHERE followee_id = $1 "
        "AND ($2::uuid IS NULL OR follower_id > $2) ORDER BY follower_id LIMIT $3",
        prompt["actor_id"],
        uuid.UUID(after) if after else None,
        FANOUT_BATCH,
    )
    if not followers:
        return None
    ids = [f["follower_id"] for f in followers]
    next_after = str(ids[-1]) if len(ids) == FANOUT_BATCH else None
    base = {**prompt, "prompt_id": prompt["id"], "kind": _kind(version), "version": version}
    async with outbox.transaction():
        inserted = await fetch(
            "INSERT INTO feed_items (user_id, kind, actor_id, prompt_id, version, created_at) "
            "SELECT u, $2, $3, $4, $5, $6 FROM unnest($1::uuid[]) AS u "
            "ON CONFLICT (user_id, prompt_id, version) DO NOTHING RETURNING id, user_id, created_at",
            ids,
            _kind(version),
            prompt["actor_id"],
            prompt["id"],
            version,
            event_at,
        )
        await outbox.publish_many(
            [
                (
                    f"feed#{row['user_id']}",
                    {
                        "type": "feed.item",
                        "item": msgspec.to_builtins(
                            _item({**base, "id": row["id"], "created_at": row["created_at"]})
                        ),
                    },
                )
                for row in inserted
            ]
        )
        # The followers are told too; unique per (follower, prompt, version), like the items.
        await notifications.notify_many(
            ids,
            "prompt.published" if version == 1 else "prompt.version",
            f"prompt:{prompt['id']}:{version}",
            actor_id=prompt["actor_id"],
            prompt_id=prompt["id"],
            data={"version": version},
        )
        if next_after is not None:
            await enqueue_prompt_fanout(prompt_id, version, event_at, after=next_after)
    log.info("feed.fanout_batch", prompt_id=prompt_id, version=version, inserted=len(inserted))
    return next_after


async def list_feed(user_id: str, cursor: str | None, limit: int) -> FeedPage:
    """The user's feed, newest first; items of prompts since archived are left out."""
    key, after = decode_cursor(cursor, "feed", datetime, int) if cursor else (None, None)
    rows = await fetch(
        "SELECT f.id, f.kind, f.version, f.created_at, f.prompt_id, f.actor_id, "
        "u.handle AS actor_handle, u.display_name AS actor_display_name, p.title, "
        "p.private_mode, p.price_cents, p.model, p.tags "
        "FROM feed_items f JOIN prompts p ON p.id = f.prompt_id JOIN users u ON u.id = f.actor_id "
        "WHERE f.user_id = $1 AND p.status = 'active' "
        "AND ($2::timestamptz IS NULL OR (f.created_at, f.id) < ($2, $3)) "
        "ORDER BY f.created_at DESC, f.id DESC LIMIT $4",
        uuid.UUID(user_id),
        key,
        after,
        limit + 1,
    )
    items, next_cursor = page(rows, limit, "feed", lambda r: r["created_at"])
    return FeedPage(items=[_item(r) for r in items], next_cursor=next_cursor)
