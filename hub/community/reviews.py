"""Reviews and ratings: one per buyer per prompt, editable; one creator reply per review.

Who may review is decided by hub.prompts.rules.has_completed_run (the one place of that rule).
The prompt row is locked while a review is written, so `rating_sum`/`rating_count` (and the
derived `rating_avg`, `rating_score`) change in the same transaction as the review.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import msgspec
import structlog

from hub import outbox
from hub.community import mentions, notifications
from hub.community.schemas import MentionOut, ReplyIn, ReviewIn, ReviewOut, ReviewPage, UserRef
from hub.moderation import suspensions
from hub.platform.db import fetch, fetchrow
from hub.platform.errors import conflict, forbidden, not_found, validation_error
from hub.platform.pagination import decode_cursor, page
from hub.prompts.rules import has_completed_run
from hub.prompts.service import visible_prompt_row

log = structlog.get_logger(__name__)

_SELECT = (
    "SELECT r.id, r.prompt_id, r.rating, r.body, r.reply, r.replied_at, r.created_at, "
    "r.updated_at, r.reply_mentions, u.id AS author_id, u.handle AS author_handle, "
    "u.display_name AS author_display_name "
    "FROM reviews r JOIN users u ON u.id = r.user_id "
)


def _out(row: dict[str, Any]) -> ReviewOut:
    return ReviewOut(
        id=str(row["id"]),
        prompt_id=str(row["prompt_id"]),
        author=UserRef(
            id=str(row["author_id"]),
            handle=row["author_handle"],
            display_name=row["author_display_name"],
        ),
        rating=row["rating"],
        body=row["body"],
        reply=row["reply"],
        replied_at=row["replied_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        reply_mentions=[
            MentionOut(**m)
            for m in (
                row["reply_mentions"]
                if isinstance(row["reply_mentions"], list)
                else json.loads(row["reply_mentions"] or "[]")
            )
        ],
    )


async def list_reviews(
    prompt_id: uuid.UUID, viewer_id: str | None, cursor: str | None, limit: int
) -> ReviewPage:
    await visible_prompt_row(prompt_id, viewer_id)
    key, after = decode_cursor(cursor, "reviews", datetime) if cursor else (None, None)
    rows = await fetch(
        _SELECT + "WHERE r.prompt_id = $1 AND ($2::timestamptz IS NULL OR "
        "(r.created_at, r.id) < ($2, $3)) ORDER BY r.created_at DESC, r.id DESC LIMIT $4",
        prompt_id,
        key,
        after,
        limit + 1,
    )
    items, next_cursor = page(rows, limit, "reviews", lambda r: r["created_at"])
    return ReviewPage(items=[_out(r) for r in items], next_cursor=next_cursor)


async def _locked_prompt(prompt_id: uuid.UUID, viewer: uuid.UUID) -> dict[str, Any]:
    row = await fetchrow(
        "SELECT id, owner_id, status FROM prompts WHERE id = $1 FOR UPDATE", prompt_id
    )
    if row is None or (row["status"] != "active" and row["owner_id"] != viewer):
        raise not_found("This prompt")
    return row


async def _check_not_suspended(user_id: uuid.UUID) -> None:
    until = await suspensions.suspended_until(user_id)
    if until is not None:
        raise forbidden(suspensions.suspended_message(until))


async def upsert_review(
    prompt_id: uuid.UUID, user_id: str, body: ReviewIn
) -> tuple[ReviewOut, bool]:
    """Create the user's review of the prompt, or edit it; returns (review, created)."""
    me = uuid.UUID(user_id)
    await _check_not_suspended(me)
    async with outbox.transaction():
        prompt = await _locked_prompt(prompt_id, me)
        if prompt["owner_id"] == me:
            raise forbidden("You cannot review your own prompt.")
        if prompt["status"] != "active":
            raise conflict("This prompt is archived and takes no reviews.", "archived")
        if not await has_completed_run(user_id, str(prompt_id)):
            raise forbidden(
                "Only buyers with a completed run of this prompt can review it; run it first."
            )
        old = await fetchrow(
            "SELECT id, rating FROM reviews WHERE prompt_id = $1 AND user_id = $2",
            prompt_id,
            me,
        )
        if old is None:
            saved = await fetchrow(
                "INSERT INTO reviews (prompt_id, user_id, rating, body) VALUES ($1, $2, $3, $4) "
                "RETURNING id",
                prompt_id,
                me,
                body.rating,
                body.body,
            )
            assert saved is not None
            await fetch(
                "UPDATE prompts SET rating_sum = rating_sum + $2, rating_count = rating_count + 1 "
                "WHERE id = $1",
                prompt_id,
                body.rating,
            )
            await notifications.notify(
                prompt["owner_id"],
                "review.new",
                f"review:{saved['id']}",
                actor_id=me,
                prompt_id=prompt_id,
                review_id=saved["id"],
            )
            review_id = saved["id"]
        else:
            review_id = old["id"]
            await fetch(
                "UPDATE reviews SET rating = $2, body = $3, updated_at = now() WHERE id = $1",
                review_id,
                body.rating,
                body.body,
            )
            await fetch(
                "UPDATE prompts SET rating_sum = rating_sum + $2 WHERE id = $1",
                prompt_id,
                body.rating - old["rating"],
            )
        row = await fetchrow(_SELECT + "WHERE r.id = $1", review_id)
        stats = await fetchrow(
            "SELECT rating_avg, rating_count FROM prompts WHERE id = $1", prompt_id
        )
        assert row is not None and stats is not None
        review = _out(row)
        created = old is None
        await outbox.publish(
            f"prompts:{prompt_id}",
            {
                "type": "review.created" if created else "review.updated",
                "review": msgspec.to_builtins(review),
                "rating_avg": float(stats["rating_avg"]),
                "rating_count": stats["rating_count"],
            },
        )
    log.info("review.saved", prompt_id=str(prompt_id), review_id=review.id, created=created)
    return review, created


async def reply(
    prompt_id: uuid.UUID, review_id: uuid.UUID, owner_id: str, body: ReplyIn
) -> ReviewOut:
    """The prompt's creator answers a review, once."""
    me = uuid.UUID(owner_id)
    if not body.body.strip():
        raise validation_error("body", "A reply cannot be blank.")
    await _check_not_suspended(me)
    named = await mentions.find(body.body)
    async with outbox.transaction():
        prompt = await _locked_prompt(prompt_id, me)
        if prompt["owner_id"] != me:
            raise forbidden("Only the prompt's creator can reply to its reviews.")
        updated = await fetch(
            "UPDATE reviews SET reply = $3, replied_at = now(), reply_mentions = $4::jsonb "
            "WHERE id = $1 AND prompt_id = $2 AND reply IS NULL RETURNING id",
            review_id,
            prompt_id,
            body.body,
            json.dumps(named),
        )
        if not updated:
            exists = await fetchrow(
                "SELECT 1 FROM reviews WHERE id = $1 AND prompt_id = $2", review_id, prompt_id
            )
            if exists is None:
                raise not_found("This review")
            raise conflict("You have already replied to this review.", "already-replied")
        row = await fetchrow(_SELECT + "WHERE r.id = $1", review_id)
        # The prompt is active, so everyone named may read the reply.
        await mentions.notify(
            named,
            owner_id,
            f"mention:reply:{review_id}",
            body.body,
            prompt_id=prompt_id,
            review_id=review_id,
        )
        assert row is not None
        review = _out(row)
        await outbox.publish(
            f"prompts:{prompt_id}",
            {"type": "review.replied", "review": msgspec.to_builtins(review)},
        )
    return review


async def remove_review(review_id: uuid.UUID) -> list[Any]:
    """A moderator removes a review (inside the caller's transaction): the prompt's rating
    loses it in the same transaction, and its outbox row announces it. Returns nothing more
    to do after commit."""
    row = await fetchrow("DELETE FROM reviews WHERE id = $1 RETURNING prompt_id, rating", review_id)
    if row is None:
        return []
    stats = await fetchrow(
        "UPDATE prompts SET rating_sum = rating_sum - $2, rating_count = rating_count - 1 "
        "WHERE id = $1 RETURNING rating_avg, rating_count",
        row["prompt_id"],
        row["rating"],
    )
    assert stats is not None
    await outbox.publish(
        f"prompts:{row['prompt_id']}",
        {
            "type": "review.deleted",
            "review_id": str(review_id),
            "rating_avg": float(stats["rating_avg"]),
            "rating_count": stats["rating_count"],
        },
    )
    return []
