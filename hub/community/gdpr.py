"""The marketplace's part of GDPR export and erasure (wired in hub/wiring.py).

Export holds only the user's own data: their prompts (with templates and versions: they are
the owner), samples, the reviews they wrote, whom they follow and who follows them, their
notifications. Nothing of anyone else's private prompt appears.

Erasure: prompts are archived (runs and ledger entries keep referring to them), review bodies
are blanked (ratings stay, the author shows as the anonymised user), follows in both directions
are removed with the counters adjusted, notifications and feed items are deleted, and so are
blocks (both ways) and notification settings.
"""

from __future__ import annotations

import uuid
from typing import Any

from hub.platform.db import fetch


async def export_for_user(user_id: str) -> dict[str, Any]:
    uid = uuid.UUID(user_id)
    prompts = await fetch(
        "SELECT id, title, description, template, variables, model, price_cents, private_mode, "
        "leak_guard, leak_guard_redactions, tags, sample_inputs::text AS sample_inputs, status, "
        "version, created_at, updated_at "
        "FROM prompts WHERE owner_id = $1 ORDER BY created_at",
        uid,
    )
    versions = await fetch(
        "SELECT v.prompt_id, v.version, v.template, v.variables, v.created_at "
        "FROM prompt_versions v JOIN prompts p ON p.id = v.prompt_id WHERE p.owner_id = $1 "
        "ORDER BY v.prompt_id, v.version",
        uid,
    )
    samples = await fetch(
        "SELECT s.id, s.prompt_id, s.title, s.inputs::text AS inputs, s.output, s.created_at "
        "FROM prompt_samples s JOIN prompts p ON p.id = s.prompt_id WHERE p.owner_id = $1",
        uid,
    )
    reviews = await fetch(
        "SELECT id, prompt_id, rating, body, created_at, updated_at FROM reviews "
        "WHERE user_id = $1 ORDER BY created_at",
        uid,
    )
    following = await fetch(
        "SELECT u.handle, f.created_at FROM follows f JOIN users u ON u.id = f.followee_id "
        "WHERE f.follower_id = $1 ORDER BY f.created_at",
        uid,
    )
    followers = await fetch(
        "SELECT count(*) AS n FROM follows WHERE followee_id = $1",
        uid,
    )
    notes = await fetch(
        "SELECT id, kind, prompt_id, review_id, data, created_at, read_at FROM notifications "
        "WHERE user_id = $1 ORDER BY created_at",
        uid,
    )
    blocked = await fetch(
        "SELECT u.handle, b.created_at FROM blocks b JOIN users u ON u.id = b.blocked_id "
        "WHERE b.blocker_id = $1 ORDER BY b.created_at",
        uid,
    )
    settings = await fetch(
        "SELECT types::text AS types, email_digest, updated_at FROM notification_settings "
        "WHERE user_id = $1",
        uid,
    )
    digests = await fetch(
        "SELECT period_start, sent_at, notification_count FROM notification_digests "
        "WHERE user_id = $1 ORDER BY period_start",
        uid,
    )
    return {
        "blocked": blocked,
        "email_digests": digests,
        "notification_settings": settings[0] if settings else None,
        "prompts": prompts,
        "prompt_versions": versions,
        "prompt_samples": samples,
        "reviews_written": reviews,
        "following": following,
        "follower_count": followers[0]["n"],
        "notifications": notes,
    }


async def erase_for_user(user_id: str) -> None:
    uid = uuid.UUID(user_id)
    await fetch(
        "UPDATE prompts SET status = 'archived', archived_at = coalesce(archived_at, now()), "
        "updated_at = now() WHERE owner_id = $1",
        uid,
    )
    await fetch("UPDATE reviews SET body = '', updated_at = now() WHERE user_id = $1", uid)
    await fetch(
        "WITH gone AS (DELETE FROM follows WHERE follower_id = $1 OR followee_id = $1 "
        "RETURNING follower_id, followee_id), "
        "deltas AS (SELECT followee_id AS user_id, count(*)::int AS followers, 0 AS following "
        "FROM gone WHERE follower_id = $1 GROUP BY followee_id "
        "UNION ALL SELECT follower_id, 0, count(*)::int FROM gone WHERE followee_id = $1 "
        "GROUP BY follower_id) "
        "UPDATE creator_stats s SET follower_count = s.follower_count - d.followers, "
        "following_count = s.following_count - d.following FROM deltas d "
        "WHERE s.user_id = d.user_id",
        uid,
    )
    await fetch("DELETE FROM creator_stats WHERE user_id = $1", uid)
    await fetch("DELETE FROM notifications WHERE user_id = $1", uid)
    await fetch("DELETE FROM feed_items WHERE user_id = $1", uid)
    await fetch("DELETE FROM blocks WHERE blocker_id = $1 OR blocked_id = $1", uid)
    await fetch("DELETE FROM notification_settings WHERE user_id = $1", uid)
    await fetch("DELETE FROM notification_digests WHERE user_id = $1", uid)
