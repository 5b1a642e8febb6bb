"""Precomputing recommendations (the arq cron job `refresh_recommendations`).

**More like this** for a prompt blends three signals over candidates each gathered by an index:
- tags: Jaccard overlap of the tag sets (GIN index on `tags`, `&&`);
- text: full-text rank of the other prompt's title/tags/description against the words of
  this prompt's title and tags, OR-ed (GIN index on `search`); never the template, nor the
  description, whose everyday words would match nearly every prompt;
- co-runs: "people who ran this also ran": distinct buyers with a completed run of both
  (runs indexes by prompt and by buyer), log-scaled.
Each signal scores at most `SCAN_LIMIT` index matches (bounded work per prompt).
`score = 0.45·tags + 0.35·text/max(text) + 0.5·ln(1+buyers)/ln(1+max(buyers))`; the strongest
term is the item's `reason`. Only active prompts, never the prompt itself, the top 12 kept.

**For you** for a user: prompts of creators they follow (newest ten each, nudged by this
week's runs) and the "more like this" lists of prompts they completed runs of (summed when
several of their runs point at the same prompt); never their own prompts or ones they ran.

Lists are recomputed in batches: those never computed first, then those whose inputs changed
(a prompt edited; a user who followed someone or finished a run since), then those older than
`HUB_RECOMMENDATIONS_REFRESH_SECONDS`. Each list is replaced in one transaction, so a reader
sees the old list or the new one, never a mix. Running the job twice is harmless.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from hub.platform.db import fetch, transaction
from hub.platform.settings import get_settings

log = structlog.get_logger(__name__)

SIMILAR_KEEP = 12
FOR_YOU_KEEP = 24
CANDIDATES = 100
# At most this many index matches of one signal are scored: a word or tag shared by thousands
# of prompts would otherwise make one prompt's refresh rank them all (bench: 0.8 s at 100k).
SCAN_LIMIT = 1000

_SIMILAR_SQL = f"""
WITH src AS (
    SELECT id, tags,
           replace(strip(to_tsvector('english', title || ' ' || array_to_string(tags, ' ')))::text,
                   ''' ''', ''' | ''') AS words
    FROM prompts WHERE id = $1
), q AS (
    SELECT CASE WHEN words = '' THEN NULL ELSE words::tsquery END AS tsq FROM src
), tag_c AS (
    SELECT p.id,
           cardinality(ARRAY(SELECT unnest(p.tags) INTERSECT SELECT unnest(src.tags)))::float8
           / GREATEST(1, cardinality(ARRAY(SELECT unnest(p.tags) UNION SELECT unnest(src.tags))))
           AS tag_j
    FROM (
        SELECT p.id, p.tags, p.runs_7d FROM prompts p, src
        WHERE p.tags && src.tags AND p.status = 'active' AND p.id <> src.id
        LIMIT {SCAN_LIMIT}
    ) p, src
    ORDER BY tag_j DESC, p.runs_7d DESC, p.id
    LIMIT {CANDIDATES}
), text_c AS (
    SELECT p.id, ts_rank(p.search, q.tsq)::float8 AS text_r
    FROM (
        SELECT p.id, p.search FROM prompts p, q
        WHERE q.tsq IS NOT NULL AND p.search @@ q.tsq AND p.status = 'active' AND p.id <> $1
        LIMIT {SCAN_LIMIT}
    ) p, q
    ORDER BY text_r DESC, p.id
    LIMIT {CANDIDATES}
), buyers AS (
    SELECT DISTINCT buyer_id FROM (
        SELECT buyer_id FROM runs WHERE prompt_id = $1 AND status = 'completed'
        ORDER BY created_at DESC LIMIT 2000
    ) recent
), co_c AS (
    SELECT r.prompt_id AS id, count(DISTINCT r.buyer_id)::float8 AS co_n
    FROM buyers b JOIN runs r ON r.buyer_id = b.buyer_id AND r.status = 'completed'
    WHERE r.prompt_id <> $1
    GROUP BY r.prompt_id
    ORDER BY co_n DESC
    LIMIT {CANDIDATES}
), cand AS (
    SELECT id, max(tag_j) AS tag_j, max(text_r) AS text_r, max(co_n) AS co_n FROM (
        SELECT id, tag_j, 0::float8 AS text_r, 0::float8 AS co_n FROM tag_c
        UNION ALL SELECT id, 0, text_r, 0 FROM text_c
        UNION ALL SELECT id, 0, 0, co_n FROM co_c
    ) x GROUP BY id
), norm AS (
    SELECT NULLIF(max(text_r), 0) AS mt, NULLIF(max(co_n), 0) AS mc FROM cand
), scored AS (
    SELECT c.id, p.runs_7d,
           0.45 * c.tag_j AS s_tags,
           0.35 * COALESCE(c.text_r / norm.mt, 0) AS s_text,
           0.5 * COALESCE(ln(1 + c.co_n) / ln(1 + norm.mc), 0) AS s_co
    FROM cand c JOIN prompts p ON p.id = c.id AND p.status = 'active', norm
)
SELECT id, (s_tags + s_text + s_co)::float4 AS score,
       CASE WHEN s_co >= s_tags AND s_co >= s_text THEN 'co_runs'
            WHEN s_tags >= s_text THEN 'tags' ELSE 'text' END AS reason
FROM scored
WHERE s_tags + s_text + s_co > 0
ORDER BY score DESC, runs_7d DESC, id
LIMIT {SIMILAR_KEEP}
"""

_FOR_YOU_SQL = f"""
WITH ran AS (
    SELECT DISTINCT prompt_id FROM runs WHERE buyer_id = $1 AND status = 'completed'
), recent_ran AS (
    SELECT prompt_id FROM (
        SELECT prompt_id, max(finished_at) AS at FROM runs
        WHERE buyer_id = $1 AND status = 'completed' GROUP BY prompt_id
    ) r ORDER BY at DESC NULLS LAST LIMIT 20
), from_follows AS (
    SELECT p.id, 0.6 + 0.2 * ln(1 + LEAST(p.runs_7d, 300)) / ln(301) AS score,
           'follows' AS reason, f.followee_id AS source_id
    FROM follows f
    JOIN LATERAL (
        SELECT id, runs_7d FROM prompts
        WHERE owner_id = f.followee_id AND status = 'active'
        ORDER BY created_at DESC, id DESC LIMIT 10
    ) p ON true
    WHERE f.follower_id = $1
), from_runs AS (
    SELECT s.similar_id AS id, 0.8 * s.score AS score, 'runs' AS reason, s.prompt_id AS source_id
    FROM recent_ran r JOIN prompt_similar s ON s.prompt_id = r.prompt_id
), cand AS (
    SELECT id, sum(score) AS score,
           (array_agg(reason ORDER BY score DESC))[1] AS reason,
           (array_agg(source_id ORDER BY score DESC))[1] AS source_id
    FROM (SELECT * FROM from_follows UNION ALL SELECT * FROM from_runs) x
    GROUP BY id
)
SELECT c.id, c.score::float4 AS score, c.reason, c.source_id
FROM cand c JOIN prompts p ON p.id = c.id
WHERE p.status = 'active' AND p.owner_id <> $1 AND c.id NOT IN (SELECT prompt_id FROM ran)
ORDER BY c.score DESC, p.runs_7d DESC, c.id
LIMIT {FOR_YOU_KEEP}
"""


async def similar_for(prompt_id: uuid.UUID) -> list[dict[str, Any]]:
    return await fetch(_SIMILAR_SQL, prompt_id)


async def refresh_prompt(prompt_id: uuid.UUID) -> int:
    """Recompute one prompt's "more like this"; returns how many items it has now."""
    rows = await similar_for(prompt_id)
    async with transaction():
        # Two refreshes of one list (the cron and a manual run) take turns, so the second
        # one's DELETE sees the first one's rows.
        await fetch("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 1))", str(prompt_id))
        await fetch("DELETE FROM prompt_similar WHERE prompt_id = $1", prompt_id)
        if rows:
            await fetch(
                "INSERT INTO prompt_similar (prompt_id, rank, similar_id, score, reason) "
                "SELECT $1, r, s, sc, re FROM unnest($2::smallint[], $3::uuid[], $4::real[], "
                "$5::text[]) AS t(r, s, sc, re)",
                prompt_id,
                list(range(1, len(rows) + 1)),
                [r["id"] for r in rows],
                [r["score"] for r in rows],
                [r["reason"] for r in rows],
            )
        await fetch(
            "INSERT INTO prompt_similar_state (prompt_id, computed_at) VALUES ($1, now()) "
            "ON CONFLICT (prompt_id) DO UPDATE SET computed_at = now()",
            prompt_id,
        )
    return len(rows)


async def refresh_user(user_id: uuid.UUID) -> int:
    """Recompute one user's "for you"; returns how many items it has now."""
    rows = await fetch(_FOR_YOU_SQL, user_id)
    async with transaction():
        await fetch("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 2))", str(user_id))
        await fetch("DELETE FROM user_recommendations WHERE user_id = $1", user_id)
        if rows:
            await fetch(
                "INSERT INTO user_recommendations (user_id, rank, prompt_id, score, reason, "
                "source_id) SELECT $1, r, p, sc, re, so FROM unnest($2::smallint[], $3::uuid[], "
                "$4::real[], $5::text[], $6::uuid[]) AS t(r, p, sc, re, so)",
                user_id,
                list(range(1, len(rows) + 1)),
                [r["id"] for r in rows],
                [r["score"] for r in rows],
                [r["reason"] for r in rows],
                [r["source_id"] for r in rows],
            )
        await fetch(
            "INSERT INTO user_recommendation_state (user_id, computed_at) VALUES ($1, now()) "
            "ON CONFLICT (user_id) DO UPDATE SET computed_at = now()",
            user_id,
        )
    return len(rows)


async def stale_prompts(limit: int, refresh_before: datetime) -> list[uuid.UUID]:
    """Never computed, edited since, or older than the refresh period; oldest first."""
    rows = await fetch(
        "SELECT p.id FROM prompts p LEFT JOIN prompt_similar_state s ON s.prompt_id = p.id "
        "WHERE p.status = 'active' AND (s.computed_at IS NULL OR s.computed_at < p.updated_at "
        "OR s.computed_at < $2) "
        "ORDER BY s.computed_at NULLS FIRST, p.id LIMIT $1",
        limit,
        refresh_before,
    )
    return [r["id"] for r in rows]


async def stale_users(limit: int, refresh_before: datetime) -> list[uuid.UUID]:
    """Users with follows or completed runs whose list is missing, older than their latest
    follow or finished run, or older than the refresh period."""
    rows = await fetch(
        "WITH active AS ("
        "  SELECT follower_id AS user_id, max(created_at) AS at FROM follows GROUP BY 1 "
        "  UNION ALL "
        "  SELECT buyer_id, max(finished_at) FROM runs WHERE status = 'completed' GROUP BY 1"
        "), latest AS (SELECT user_id, max(at) AS at FROM active GROUP BY user_id) "
        "SELECT l.user_id FROM latest l "
        "JOIN users u ON u.id = l.user_id AND u.deleted_at IS NULL "
        "LEFT JOIN user_recommendation_state s ON s.user_id = l.user_id "
        "WHERE s.computed_at IS NULL OR s.computed_at < l.at OR s.computed_at < $2 "
        "ORDER BY s.computed_at NULLS FIRST, l.user_id LIMIT $1",
        limit,
        refresh_before,
    )
    return [r["user_id"] for r in rows]


async def refresh_batch(limit: int | None = None) -> dict[str, int]:
    """One cron turn: stale prompts first (users' lists are built from theirs), then users."""
    settings = get_settings()
    limit = limit or settings.recommendations_batch
    before = datetime.now(UTC) - timedelta(seconds=settings.recommendations_refresh_seconds)
    prompts = await stale_prompts(limit, before)
    for pid in prompts:
        await refresh_prompt(pid)
    users = await stale_users(limit, before)
    for uid in users:
        await refresh_user(uid)
    return {"prompts": len(prompts), "users": len(users)}
