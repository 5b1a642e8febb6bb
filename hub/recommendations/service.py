"""Reading recommendations: each list is one query on its table's primary key, joined to the
prompts it names (only active ones, never a template)."""

from __future__ import annotations

import uuid

from hub.platform.db import fetch, fetchrow
from hub.prompts import listing as prompt_listing
from hub.prompts import service as prompts
from hub.recommendations.schemas import (
    Because,
    ForYouItem,
    ForYouPage,
    SimilarItem,
    SimilarPage,
)

SIMILAR_SQL = (
    f"SELECT {prompts.PUBLIC_COLUMNS}, ps.score, ps.reason "
    "FROM prompt_similar ps JOIN prompts p ON p.id = ps.similar_id "
    "JOIN users u ON u.id = p.owner_id "
    "WHERE ps.prompt_id = $1 AND p.status = 'active' ORDER BY ps.rank LIMIT $2"
)

FOR_YOU_SQL = (
    f"SELECT {prompts.PUBLIC_COLUMNS}, r.score, r.reason, r.source_id, "
    "su.handle AS source_handle, sp.title AS source_title "
    "FROM user_recommendations r JOIN prompts p ON p.id = r.prompt_id "
    "JOIN users u ON u.id = p.owner_id "
    "LEFT JOIN users su ON r.reason = 'follows' AND su.id = r.source_id "
    "LEFT JOIN prompts sp ON r.reason = 'runs' AND sp.id = r.source_id "
    "WHERE r.user_id = $1 AND p.status = 'active' ORDER BY r.rank LIMIT $2"
)


async def more_like_this(prompt_id: uuid.UUID, viewer_id: str | None, limit: int) -> SimilarPage:
    """404 exactly when the prompt itself is not visible to the viewer."""
    await prompts.visible_prompt_row(prompt_id, viewer_id)
    rows = await fetch(SIMILAR_SQL, prompt_id, limit)
    return SimilarPage(
        items=[
            SimilarItem(
                prompt=prompts.prompt_out(r), score=round(r["score"], 4), reason=r["reason"]
            )
            for r in rows
        ]
    )


def _because(row: dict) -> Because | None:
    if row["reason"] == "follows" and row["source_handle"]:
        return Because(type="user", id=str(row["source_id"]), handle=row["source_handle"])
    if row["reason"] == "runs" and row["source_title"]:
        return Because(type="prompt", id=str(row["source_id"]), title=row["source_title"])
    return None


async def for_you(user_id: str, limit: int) -> ForYouPage:
    """The user's precomputed list; until the job has made one (a new account), this week's
    popular prompts that are not theirs."""
    uid = uuid.UUID(user_id)
    rows = await fetch(FOR_YOU_SQL, uid, limit)
    if rows:
        state = await fetchrow(
            "SELECT computed_at FROM user_recommendation_state WHERE user_id = $1", uid
        )
        return ForYouPage(
            items=[
                ForYouItem(
                    prompt=prompts.prompt_out(r),
                    score=round(r["score"], 4),
                    reason=r["reason"],
                    because=_because(r),
                )
                for r in rows
            ],
            computed_at=state["computed_at"] if state else None,
        )
    popular = await prompt_listing.list_prompts(
        prompt_listing.ListQuery(sort="popular", limit=limit + 10)
    )
    items = [p for p in popular.items if p.owner.id != user_id][:limit]
    return ForYouPage(
        items=[ForYouItem(prompt=p, score=0.0, reason="popular", because=None) for p in items],
        computed_at=None,
    )
