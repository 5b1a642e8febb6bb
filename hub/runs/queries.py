"""Reading runs: one run (as its viewer may see it), a buyer's runs, the live public runs,
and who may watch a run's channel.

Why a module of its own: every reader of a run (the API, the web pages, the realtime channel
policy, the worker and the lifecycle transitions, which lock the row) goes through `load`
and `run_out`, so the rule "the money of a run is its buyer's business" lives in one place.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from hub.platform.db import fetch, fetchrow
from hub.platform.errors import not_found
from hub.platform.pagination import decode_cursor, page
from hub.runs.publishing import channel
from hub.runs.schemas import RunError, RunOut, RunPage, RunUsage, StreamPosition


def _uid(value: str | uuid.UUID) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def run_out(row: dict[str, Any], viewer_id: str | None) -> RunOut:
    """The run as `viewer_id` may see it: its money only for its buyer."""
    owner = viewer_id is not None and str(row["buyer_id"]) == viewer_id
    usage = None
    if row["usage_cents"] is not None:
        usage = RunUsage(
            input_tokens=row["usage_input_tokens"] or 0,
            output_tokens=row["usage_output_tokens"] or 0,
            cost_cents=row["usage_cents"] if owner else None,
        )
    error = None
    if row["error_code"]:
        error = RunError(code=row["error_code"], message=row["error_message"] or "")
    stream = None
    if row["stream_offset"] is not None and row["stream_epoch"] is not None:
        stream = StreamPosition(offset=int(row["stream_offset"]), epoch=row["stream_epoch"])
    return RunOut(
        id=str(row["id"]),
        prompt_id=str(row["prompt_id"]),
        prompt_version=row["prompt_version"],
        status=row["status"],
        visibility=row["visibility"],
        model=row["model"],
        max_tokens=row["max_tokens"],
        channel=channel(row["id"]),
        output=row["output"],
        attempt=row["attempt"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        price_cents=row["price_cents"] if owner else None,
        usage_cap_cents=row["usage_cap_cents"] if owner else None,
        hold_cents=row["hold_cents"] if owner else None,
        charge_cents=row["charge_cents"] if owner else None,
        refunded_cents=row["refunded_cents"] if owner else None,
        usage=usage,
        error=error,
        stream=stream,
        prompt_title=row.get("prompt_title"),
        cancel_requested=row["cancel_requested_at"] is not None,
    )


async def load(run_id: str | uuid.UUID, *, lock: bool = False) -> dict[str, Any] | None:
    """The run's row (`lock`: FOR UPDATE, inside a transaction), or None for an unknown or
    malformed id."""
    rid = _uid(run_id)
    if rid is None:
        return None
    return await fetchrow("SELECT * FROM runs WHERE id = $1" + (" FOR UPDATE" if lock else ""), rid)


async def can_watch_run(user_id: str | None, run_id: str) -> bool:
    """The realtime policy for `runs:<id>`: the buyer, or anyone when the run is public."""
    rid = _uid(run_id)
    if rid is None:
        return False
    row = await fetchrow("SELECT buyer_id, visibility FROM runs WHERE id = $1", rid)
    if row is None:
        return False
    return row["visibility"] == "public" or (
        user_id is not None and str(row["buyer_id"]) == user_id
    )


async def get_run(run_id: str, viewer_id: str | None) -> RunOut:
    row = await load(run_id)
    if row is None or not (
        row["visibility"] == "public" or str(row["buyer_id"]) == (viewer_id or "")
    ):
        raise not_found("This run")
    return run_out(row, viewer_id)


async def my_runs(user_id: str, limit: int, after: str | None) -> RunPage:
    return await _list_runs("r.buyer_id = $3", [uuid.UUID(user_id)], limit, after, user_id)


async def live_runs(limit: int, after: str | None, viewer_id: str | None) -> RunPage:
    where = "r.status IN ('queued', 'running') AND r.visibility = 'public'"
    return await _list_runs(where, [], limit, after, viewer_id)


async def _list_runs(
    where: str, params: list[Any], limit: int, after: str | None, viewer_id: str | None
) -> RunPage:
    """A page of runs newest first; `where` uses $3.. for `params` ($1, $2 are the cursor)."""
    key, run_id = decode_cursor(after, "runs", datetime) if after else (None, None)
    rows = await fetch(
        "SELECT r.*, p.title AS prompt_title FROM runs r JOIN prompts p ON p.id = r.prompt_id "
        f"WHERE {where} AND ($1::timestamptz IS NULL OR (r.created_at, r.id) < ($1, $2)) "
        f"ORDER BY r.created_at DESC, r.id DESC LIMIT {int(limit) + 1}",
        key,
        run_id,
        *params,
    )
    items, next_cursor = page(rows, limit, "runs", lambda r: r["created_at"])
    return RunPage(items=[run_out(r, viewer_id) for r in items], next_cursor=next_cursor)
