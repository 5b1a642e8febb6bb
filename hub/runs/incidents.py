"""Leak guard incidents: what the guard hid, counted per run and per prompt.

An incident is one span of template text replaced by the marker in a run's output. The
worker adds an attempt's count to its run and to the run's prompt in one statement as the
stream closes (before the terminal transition, so a finished run already shows it), and logs
the counts, never the text. The prompt's creator and admins read them here; the metric
(`hub_leak_guard_redactions`) is refreshed from Postgres by hub.runs.metrics.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import structlog

from hub.platform.db import fetch, fetchrow
from hub.platform.errors import forbidden, not_found
from hub.platform.pagination import decode_cursor, page
from hub.runs.leak_guard import LeakGuard
from hub.runs.schemas import LeakGuardPrompt, LeakGuardPromptPage, LeakGuardRun, LeakGuardRuns

log = structlog.get_logger(__name__)


async def record(run_id: str, attempt: int, guard: LeakGuard) -> None:
    """Add this attempt's hidden spans to the run and its prompt; log them without the text.
    Never raises: the count is a record, and the run's ending must not depend on it."""
    if not guard.redactions:
        return
    try:
        row = await fetchrow(
            "WITH r AS (UPDATE runs SET leak_guard_redactions = leak_guard_redactions + $2 "
            "WHERE id = $1 RETURNING prompt_id) "
            "UPDATE prompts p SET leak_guard_redactions = p.leak_guard_redactions + $2 "
            "FROM r WHERE p.id = r.prompt_id RETURNING p.id",
            uuid.UUID(run_id),
            guard.redactions,
        )
    except Exception:  # noqa: BLE001 - a lost count must not fail the run; the log keeps it
        row = None
        log.error("run.leak_guard_count_failed", run_id=run_id, exc_info=True)
    log.warning(
        "run.leak_guard_redacted",
        run_id=run_id,
        prompt_id=str(row["id"]) if row else None,
        attempt=attempt,
        redactions=guard.redactions,
        hidden_words=guard.hidden_words,
    )


async def prompt_runs(
    prompt_id: uuid.UUID, viewer_id: str, is_admin: bool, cursor: str | None, limit: int
) -> LeakGuardRuns:
    """For the prompt's creator (or an admin): its totals and its runs with incidents."""
    prompt = await fetchrow(
        "SELECT id, owner_id, status, private_mode, leak_guard, leak_guard_redactions "
        "FROM prompts WHERE id = $1",
        prompt_id,
    )
    owner = prompt is not None and str(prompt["owner_id"]) == viewer_id
    if prompt is None or not (owner or is_admin or prompt["status"] == "active"):
        raise not_found("This prompt")
    if not (owner or is_admin):
        raise forbidden("Only the prompt's creator (or an admin) can see its leak guard record.")
    after = decode_cursor(cursor, "leak-guard-runs", datetime) if cursor else (None, None)
    rows = await fetch(
        "SELECT id, created_at, status, visibility, attempt, leak_guard_redactions FROM runs "
        "WHERE prompt_id = $1 AND leak_guard_redactions > 0 "
        "AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) "
        "ORDER BY created_at DESC, id DESC LIMIT $4",
        prompt_id,
        after[0],
        after[1],
        limit + 1,
    )
    items, next_cursor = page(rows, limit, "leak-guard-runs", lambda r: r["created_at"])
    return LeakGuardRuns(
        prompt_id=str(prompt_id),
        guarded=prompt["private_mode"] or prompt["leak_guard"],
        private_mode=prompt["private_mode"],
        leak_guard=prompt["leak_guard"],
        leak_guard_redactions=int(prompt["leak_guard_redactions"]),
        items=[_run_item(r) for r in items],
        next_cursor=next_cursor,
    )


def _run_item(row: dict[str, Any]) -> LeakGuardRun:
    return LeakGuardRun(
        run_id=str(row["id"]),
        created_at=row["created_at"],
        status=row["status"],
        visibility=row["visibility"],
        attempt=row["attempt"],
        leak_guard_redactions=row["leak_guard_redactions"],
    )


async def admin_prompts(cursor: str | None, limit: int) -> LeakGuardPromptPage:
    """Prompts whose runs had template text hidden, most incidents first."""
    after = decode_cursor(cursor, "leak-guard-prompts", int) if cursor else (None, None)
    rows = await fetch(
        "SELECT p.id, p.title, u.handle AS owner_handle, p.status, p.private_mode, "
        "p.leak_guard, p.leak_guard_redactions FROM prompts p JOIN users u ON u.id = p.owner_id "
        "WHERE p.leak_guard_redactions > 0 "
        "AND ($1::bigint IS NULL OR (p.leak_guard_redactions, p.id) < ($1, $2)) "
        "ORDER BY p.leak_guard_redactions DESC, p.id DESC LIMIT $3",
        after[0],
        after[1],
        limit + 1,
    )
    items, next_cursor = page(
        rows, limit, "leak-guard-prompts", lambda r: int(r["leak_guard_redactions"])
    )
    return LeakGuardPromptPage(
        items=[
            LeakGuardPrompt(
                prompt_id=str(r["id"]),
                title=r["title"],
                owner_handle=r["owner_handle"],
                status=r["status"],
                private_mode=r["private_mode"],
                leak_guard=r["leak_guard"],
                leak_guard_redactions=int(r["leak_guard_redactions"]),
            )
            for r in items
        ],
        next_cursor=next_cursor,
    )
