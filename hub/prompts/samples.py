"""A prompt's samples: example inputs and outputs its creator shows buyers
(/prompts/{id}/samples), typed in or taken from one of the creator's own completed runs.

Why a module of its own: samples are a sub-resource with rules of their own (at most
MAX_SAMPLES_PER_PROMPT per prompt, only the owner's completed runs, a buyer's output never;
their images are the media domain's), built on the prompt's visibility and ownership rules
in `hub.prompts.service`.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from hub.media import queries as media_queries
from hub.media.service import discard
from hub.platform.db import fetch, fetchrow, transaction
from hub.platform.errors import conflict, not_found, validation_error
from hub.platform.pagination import decode_cursor, page
from hub.prompts.schemas import SampleCreate, SampleOut, SamplePage, SampleRunOut, SampleRunPage
from hub.prompts.service import (
    check_sample_inputs,
    json_object,
    load_row,
    parse_uuid,
    require_owner,
    visible_prompt_row,
)

MAX_SAMPLES_PER_PROMPT = 20


def _sample_out(row: dict[str, Any]) -> SampleOut:
    return SampleOut(
        id=str(row["id"]),
        prompt_id=str(row["prompt_id"]),
        title=row["title"],
        inputs=json_object(row["inputs"]),
        output=row["output"],
        run_id=str(row["run_id"]) if row["run_id"] else None,
        created_at=row["created_at"],
    )


async def list_samples(
    prompt_id: uuid.UUID, viewer_id: str | None, cursor: str | None, limit: int
) -> SamplePage:
    await visible_prompt_row(prompt_id, viewer_id)
    after = decode_cursor(cursor, "samples", datetime) if cursor else (None, None)
    rows = await fetch(
        "SELECT id, prompt_id, run_id, title, inputs, output, created_at FROM prompt_samples "
        "WHERE prompt_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) "
        "ORDER BY created_at DESC, id DESC LIMIT $4",
        prompt_id,
        after[0],
        after[1],
        limit + 1,
    )
    items, next_cursor = page(rows, limit, "samples", lambda r: r["created_at"])
    media = await media_queries.media_for_samples([r["id"] for r in items])
    out = [_sample_out(r) for r in items]
    for sample in out:
        sample.media = media.get(sample.id, [])
    return SamplePage(items=out, next_cursor=next_cursor)


async def _run_for_sample(run_id: uuid.UUID, prompt_id: uuid.UUID, owner: uuid.UUID) -> dict:
    """The owner's own completed run of this prompt, as a JSON object (schema-agnostic)."""
    missing = not_found("This run")
    row = await fetchrow(
        "SELECT to_jsonb(r) AS run FROM runs r WHERE r.id = $1 AND r.buyer_id = $2",
        run_id,
        owner,
    )
    if row is None:
        raise missing
    run = json_object(row["run"])
    if run.get("prompt_id") != str(prompt_id):
        raise validation_error("run_id", "That run is of another prompt.")
    if run.get("status") != "completed" or not run.get("output"):
        raise validation_error("run_id", "Only a completed run with output can become a sample.")
    return run


async def sample_runs(prompt_id: uuid.UUID, owner_id: str, limit: int) -> SampleRunPage:
    """The owner's own completed runs of this prompt that are not samples yet, newest first:
    what `POST .../samples {run_id}` accepts, so a creator can pick one instead of pasting
    text. Only the owner's runs: a buyer's output is the buyer's, never a sample."""
    owner = uuid.UUID(owner_id)
    row = await load_row(prompt_id, owner)
    require_owner(row, owner, "add samples")
    rows = await fetch(
        "SELECT r.id, r.inputs, r.output, r.created_at, r.leak_guard_redactions FROM runs r "
        "WHERE r.prompt_id = $1 AND r.buyer_id = $2 AND r.status = 'completed' "
        "AND r.output <> '' AND NOT EXISTS (SELECT 1 FROM prompt_samples s "
        "WHERE s.prompt_id = r.prompt_id AND s.run_id = r.id) "
        "ORDER BY r.created_at DESC, r.id DESC LIMIT $3",
        prompt_id,
        owner,
        limit,
    )
    return SampleRunPage(
        items=[
            SampleRunOut(
                run_id=str(r["id"]),
                inputs={k: str(v) for k, v in json_object(r["inputs"]).items()},
                excerpt=_excerpt(r["output"]),
                created_at=r["created_at"],
                leak_guard_redactions=r["leak_guard_redactions"],
            )
            for r in rows
        ]
    )


def _excerpt(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


async def add_sample(prompt_id: uuid.UUID, owner_id: str, body: SampleCreate) -> SampleOut:
    owner = uuid.UUID(owner_id)
    if (body.output is None) == (body.run_id is None):
        raise validation_error("output", "Send either `output` (text) or `run_id`, not both.")
    async with transaction():
        row = await load_row(prompt_id, owner, lock=True)
        require_owner(row, owner, "add samples")
        variables = list(row["variables"] or [])
        check_sample_inputs(body.inputs, variables, "inputs")
        inputs, output, run_id = dict(body.inputs), body.output, None
        if body.run_id is not None:
            run_id = parse_uuid(body.run_id)
            if run_id is None:
                raise not_found("This run")
            run = await _run_for_sample(run_id, prompt_id, owner)
            output = str(run["output"])[:20_000]
            run_inputs = run.get("inputs")
            if not inputs and isinstance(run_inputs, dict):
                inputs = {k: str(v) for k, v in run_inputs.items() if k in variables}
        count = await fetchrow(
            "SELECT count(*) AS n FROM prompt_samples WHERE prompt_id = $1", prompt_id
        )
        if count and count["n"] >= MAX_SAMPLES_PER_PROMPT:
            raise conflict(
                f"A prompt has at most {MAX_SAMPLES_PER_PROMPT} samples; delete one first.",
                "too-many-samples",
            )
        sample = await fetchrow(
            "INSERT INTO prompt_samples (prompt_id, run_id, title, inputs, output) "
            "VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT DO NOTHING "
            "RETURNING id, prompt_id, run_id, title, inputs, output, created_at",
            prompt_id,
            run_id,
            body.title,
            json.dumps(inputs),
            output,
        )
        if sample is None:
            raise conflict("That run is already a sample of this prompt.", "duplicate-sample")
    return _sample_out(sample)


async def delete_sample(prompt_id: uuid.UUID, sample_id: uuid.UUID, owner_id: str) -> None:
    owner = uuid.UUID(owner_id)
    row = await load_row(prompt_id, owner)
    require_owner(row, owner, "delete samples")
    media_keys = await media_queries.keys_of_sample(sample_id)
    deleted = await fetch(
        "DELETE FROM prompt_samples WHERE id = $1 AND prompt_id = $2 RETURNING id",
        sample_id,
        prompt_id,
    )
    if not deleted:
        raise not_found("This sample")
    if media_keys:
        await discard(media_keys)
