"""Prompts rules: create, read with Private Mode, update with versions, archive, samples, listing.

Private Mode: the template is selected from the database only when the viewer owns the prompt
or the prompt is not private (`_OWNER_ONLY_COLUMNS`), and is never logged or published. The
leak guard's incident count is the owner's too.

Visibility: an active prompt is visible to anyone (private or not: buyers run private prompts
without seeing their text); an archived prompt only to its owner. Someone else's archived
prompt answers 404, exactly like a prompt that never existed. Owner-only actions on a prompt
that the caller can see answer 403, since its existence is public anyway.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import structlog

from hub import outbox
from hub.community.fanout import enqueue_prompt_fanout
from hub.media import queries as media_queries
from hub.moderation import audit, suspensions
from hub.platform import outages
from hub.platform.db import fetch, fetchrow, transaction
from hub.platform.errors import conflict, forbidden, not_found, too_many, validation_error
from hub.platform.pagination import decode_cursor, page
from hub.platform.redis import get_redis
from hub.prompts import events
from hub.prompts.schemas import (
    FacetCount,
    Facets,
    OwnerOut,
    PromptCreate,
    PromptOut,
    PromptPage,
    PromptPatch,
    SampleCreate,
    SampleOut,
    SamplePage,
    SampleRunOut,
    SampleRunPage,
    VersionOut,
    VersionPage,
)
from hub.prompts.templating import (
    MissingVariables,
    TemplateError,
    derive_variables,
    render_template,
)
from hub.providers.models import get_model

__all__ = [
    "MissingVariables",
    "PromptForRun",
    "TemplateError",
    "derive_variables",
    "get_prompt_for_run",
    "render_template",
]

log = structlog.get_logger(__name__)

MAX_SAMPLES_PER_PROMPT = 20
MAX_PROMPTS_PER_HOUR = 60

_PROMPT_COLUMNS = (
    "p.id, p.owner_id, p.title, p.description, p.variables, p.model, p.price_cents, "
    "p.private_mode, p.leak_guard, p.tags, p.sample_inputs, p.status, p.version, p.rating_avg, "
    "p.rating_count, p.run_count, p.live_runs, p.runs_7d, p.rating_score, p.created_at, "
    "p.updated_at"
)
_OWNER_COLUMNS = "u.handle AS owner_handle, u.display_name AS owner_display_name"
_PUBLIC_COLUMNS = f"{_PROMPT_COLUMNS}, {_OWNER_COLUMNS}"
# $1 is always the viewer's id (NULL when anonymous).
_OWNER_ONLY_COLUMNS = (
    "CASE WHEN NOT p.private_mode OR p.owner_id = $1 THEN p.template END AS template, "
    "CASE WHEN p.owner_id = $1 THEN p.leak_guard_redactions END AS leak_guard_redactions"
)


class PromptForRun(msgspec.Struct, frozen=True):
    """What the runs domain needs to execute a prompt. Holds the template: never serialise it
    into a response, log line or publication for anyone but the owner."""

    id: str
    owner_id: str
    version_id: str
    version: int
    template: str
    variables: list[str]
    model: str
    price_cents: int
    private_mode: bool
    status: str  # "active" | "archived": the caller decides (new runs should require "active")
    title: str


def parse_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError):
        return None


def _viewer(viewer_id: str | None) -> uuid.UUID | None:
    return uuid.UUID(viewer_id) if viewer_id else None


async def get_prompt_for_run(prompt_id: str) -> PromptForRun | None:
    """The prompt's current version for a run, or None when no such prompt exists.

    Archived prompts are returned too (status "archived"); callers refuse new runs on them.
    Works inside the caller's transaction (hub.platform.db.fetchrow honours it).
    """
    pid = parse_uuid(prompt_id)
    if pid is None:
        return None
    row = await fetchrow(
        "SELECT p.id, p.owner_id, v.id AS version_id, v.version, v.template, v.variables, p.model, "
        "p.price_cents, p.private_mode, p.status, p.title "
        "FROM prompts p JOIN prompt_versions v ON v.id = p.current_version_id WHERE p.id = $1",
        pid,
    )
    if row is None:
        return None
    return PromptForRun(
        id=str(row["id"]),
        owner_id=str(row["owner_id"]),
        version_id=str(row["version_id"]),
        version=row["version"],
        template=row["template"],
        variables=list(row["variables"] or []),
        model=row["model"],
        price_cents=row["price_cents"],
        private_mode=row["private_mode"],
        status=row["status"],
        title=row["title"],
    )


def _json_obj(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value or {})


def prompt_out(row: dict[str, Any]) -> PromptOut:
    avg = row["rating_avg"]
    return PromptOut(
        id=str(row["id"]),
        owner=OwnerOut(
            id=str(row["owner_id"]),
            handle=row["owner_handle"],
            display_name=row["owner_display_name"],
        ),
        title=row["title"],
        description=row["description"],
        variables=list(row["variables"] or []),
        model=row["model"],
        price_cents=row["price_cents"],
        private_mode=row["private_mode"],
        leak_guard=row["leak_guard"],
        tags=list(row["tags"] or []),
        sample_inputs=_json_obj(row["sample_inputs"]),
        status=row["status"],
        version=row["version"],
        rating_avg=float(avg) if isinstance(avg, Decimal) else float(avg or 0),
        rating_count=row["rating_count"],
        run_count=row["run_count"],
        live_runs=row["live_runs"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        template=row.get("template"),
        leak_guard_redactions=row.get("leak_guard_redactions"),
    )


# --- validation beyond the schema ---------------------------------------------------------


def _check_model(name: str) -> None:
    if get_model(name) is None:
        raise validation_error("model", f"Unknown model '{name}'; use one listed by the hub.")


def _variables(template: str) -> list[str]:
    try:
        return derive_variables(template)
    except TemplateError as exc:
        raise validation_error("template", str(exc)) from exc


def _check_sample_inputs(inputs: dict[str, str], variables: list[str], field: str) -> None:
    unknown = sorted(set(inputs) - set(variables))
    if unknown:
        raise validation_error(
            field,
            f"{field} names variables the template does not use: {', '.join(unknown)}. "
            f"The template's variables are: {', '.join(variables) or 'none'}.",
        )


def _title(title: str) -> str:
    stripped = title.strip()
    if len(stripped) < 3:
        raise validation_error("title", "title needs at least 3 characters besides spaces.")
    return stripped


def _normalise_tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(t.lower() for t in tags))


# --- create, read, update, archive --------------------------------------------------------


async def _load(prompt_id: uuid.UUID, viewer: uuid.UUID | None, *, lock: bool = False) -> dict:
    row = await fetchrow(
        f"SELECT {_PUBLIC_COLUMNS}, {_OWNER_ONLY_COLUMNS} FROM prompts p "
        f"JOIN users u ON u.id = p.owner_id WHERE p.id = $2" + (" FOR UPDATE OF p" if lock else ""),
        viewer,
        prompt_id,
    )
    if row is None or (row["status"] != "active" and row["owner_id"] != viewer):
        raise not_found("This prompt")
    return row


async def visible_prompt_row(prompt_id: uuid.UUID, viewer_id: str | None) -> dict[str, Any]:
    """The prompt's row (template only if visible) or 404; used by reviews and samples too."""
    return await _load(prompt_id, _viewer(viewer_id))


def _require_owner(row: dict[str, Any], viewer: uuid.UUID | None, action: str) -> None:
    if row["owner_id"] != viewer:
        raise forbidden(f"Only the prompt's creator can {action}.")


async def _check_creation_rate(owner_id: str) -> None:
    """At most MAX_PROMPTS_PER_HOUR new prompts per user per clock hour (spam brake).

    A rate limit, not a security check: it fails open while Redis is unreachable."""
    hour = int(time.time() // 3600)
    key = f"hub:prompts:created:{owner_id}:{hour}"
    pipe = get_redis().pipeline(transaction=False)
    pipe.set(key, 0, ex=3600, nx=True)  # (EXPIRE NX needs Redis 7; this works on 6.2)
    pipe.incr(key)
    try:
        _, count = await pipe.execute()
    except outages.REDIS_ERRORS:
        return
    if int(count) > MAX_PROMPTS_PER_HOUR:
        retry = 3600 - int(time.time()) % 3600
        raise too_many(
            f"You can publish at most {MAX_PROMPTS_PER_HOUR} prompts per hour; "
            f"try again in {retry} seconds.",
            retry,
        )


async def create_prompt(owner_id: str, body: PromptCreate) -> PromptOut:
    _check_model(body.model)
    title = _title(body.title)
    variables = _variables(body.template)
    _check_sample_inputs(body.sample_inputs, variables, "sample_inputs")
    suspended = await suspensions.suspended_until(owner_id)
    if suspended is not None:
        raise forbidden(suspensions.suspended_message(suspended))
    await _check_creation_rate(owner_id)
    owner = uuid.UUID(owner_id)
    async with outbox.transaction():
        created = await fetchrow(
            "INSERT INTO prompts (owner_id, title, description, template, variables, model, "
            "price_cents, private_mode, tags, sample_inputs, leak_guard) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11) RETURNING id",
            owner,
            title,
            body.description,
            body.template,
            variables,
            body.model,
            body.price_cents,
            body.private_mode,
            _normalise_tags(body.tags),
            json.dumps(body.sample_inputs),
            body.leak_guard,
        )
        assert created is not None
        await fetch(
            "WITH v AS (INSERT INTO prompt_versions (prompt_id, version, template, variables) "
            "VALUES ($1, 1, $2, $3) RETURNING id) "
            "UPDATE prompts SET current_version_id = (SELECT id FROM v) WHERE id = $1",
            created["id"],
            body.template,
            variables,
        )
        row = await _load(created["id"], owner)
        out = prompt_out(row)
        await enqueue_prompt_fanout(out.id, 1, out.created_at)
    log.info("prompt.created", prompt_id=out.id, private_mode=out.private_mode)
    return out


async def get_prompt(prompt_id: uuid.UUID, viewer_id: str | None) -> PromptOut:
    return prompt_out(await _load(prompt_id, _viewer(viewer_id)))


async def update_prompt(prompt_id: uuid.UUID, owner_id: str, patch: PromptPatch) -> PromptOut:
    owner = uuid.UUID(owner_id)
    if patch.model is not None:
        _check_model(patch.model)
    new_version: int | None = None
    async with outbox.transaction():
        row = await _load(prompt_id, owner, lock=True)
        _require_owner(row, owner, "edit it")
        changes: dict[str, Any] = {}
        variables = list(row["variables"] or [])
        if patch.template is not None and patch.template != row["template"]:
            variables = _variables(patch.template)
            new_version = row["version"] + 1
            version = await fetchrow(
                "INSERT INTO prompt_versions (prompt_id, version, template, variables) "
                "VALUES ($1, $2, $3, $4) RETURNING id",
                prompt_id,
                new_version,
                patch.template,
                variables,
            )
            assert version is not None
            changes.update(
                template=patch.template,
                variables=variables,
                version=new_version,
                current_version_id=version["id"],
            )
        if patch.sample_inputs is not None:
            _check_sample_inputs(patch.sample_inputs, variables, "sample_inputs")
            changes["sample_inputs"] = json.dumps(patch.sample_inputs)
        elif new_version is not None:
            kept = {k: v for k, v in _json_obj(row["sample_inputs"]).items() if k in variables}
            changes["sample_inputs"] = json.dumps(kept)
        if patch.title is not None:
            changes["title"] = _title(patch.title)
        for field in ("description", "model", "price_cents", "private_mode", "leak_guard"):
            value = getattr(patch, field)
            if value is not None:
                changes[field] = value
        if patch.tags is not None:
            changes["tags"] = _normalise_tags(patch.tags)
        if patch.status is not None and patch.status != row["status"]:
            if patch.status == "active" and await audit.removed_by_moderator("prompt", prompt_id):
                raise forbidden("A moderator removed this prompt; it cannot be restored.")
            changes["status"] = patch.status
            changes["archived_at"] = datetime.now(UTC) if patch.status == "archived" else None
        if changes:
            assignments = ", ".join(
                f"{col} = ${i + 2}" + ("::jsonb" if col == "sample_inputs" else "")
                for i, col in enumerate(changes)
            )
            await fetch(
                f"UPDATE prompts SET {assignments}, updated_at = now() WHERE id = $1",
                prompt_id,
                *changes.values(),
            )
        row = await _load(prompt_id, owner)
        out = prompt_out(row)
        if changes:
            await events.prompt_updated(out)
        if new_version is not None and out.status == "active":
            await enqueue_prompt_fanout(out.id, new_version, out.updated_at)
    if changes:
        log.info(
            "prompt.updated", prompt_id=out.id, fields=sorted(changes), new_version=new_version
        )
    return out


async def archive_prompt(prompt_id: uuid.UUID, owner_id: str) -> None:
    """Archive (soft delete): hidden from listings and from everyone but the owner; runs and
    reviews keep referring to it. Idempotent."""
    await update_prompt(prompt_id, owner_id, PromptPatch(status="archived"))


# --- versions -----------------------------------------------------------------------------


async def list_versions(
    prompt_id: uuid.UUID, viewer_id: str, cursor: str | None, limit: int
) -> VersionPage:
    viewer = uuid.UUID(viewer_id)
    row = await _load(prompt_id, viewer)
    _require_owner(row, viewer, "see its versions")
    after = decode_cursor(cursor, "versions", int) if cursor else None
    rows = await fetch(
        "SELECT v.id, v.version, v.template, v.variables, v.created_at, "
        "v.id = p.current_version_id AS current "
        "FROM prompt_versions v JOIN prompts p ON p.id = v.prompt_id "
        "WHERE v.prompt_id = $1 AND ($2::int IS NULL OR v.version < $2) "
        "ORDER BY v.version DESC LIMIT $3",
        prompt_id,
        after[0] if after else None,
        limit + 1,
    )
    items, next_cursor = page(rows, limit, "versions", lambda r: r["version"])
    return VersionPage(
        items=[
            VersionOut(
                id=str(r["id"]),
                version=r["version"],
                template=r["template"],
                variables=list(r["variables"] or []),
                created_at=r["created_at"],
                current=r["current"],
            )
            for r in items
        ],
        next_cursor=next_cursor,
    )


# --- samples ------------------------------------------------------------------------------


def _sample_out(row: dict[str, Any]) -> SampleOut:
    return SampleOut(
        id=str(row["id"]),
        prompt_id=str(row["prompt_id"]),
        title=row["title"],
        inputs=_json_obj(row["inputs"]),
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
    run = _json_obj(row["run"])
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
    row = await _load(prompt_id, owner)
    _require_owner(row, owner, "add samples")
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
                inputs={k: str(v) for k, v in _json_obj(r["inputs"]).items()},
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
        row = await _load(prompt_id, owner, lock=True)
        _require_owner(row, owner, "add samples")
        variables = list(row["variables"] or [])
        _check_sample_inputs(body.inputs, variables, "inputs")
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
    row = await _load(prompt_id, owner)
    _require_owner(row, owner, "delete samples")
    media_keys = await media_queries.keys_of_sample(sample_id)
    deleted = await fetch(
        "DELETE FROM prompt_samples WHERE id = $1 AND prompt_id = $2 RETURNING id",
        sample_id,
        prompt_id,
    )
    if not deleted:
        raise not_found("This sample")
    if media_keys:
        from hub.media.service import discard

        await discard(media_keys)


# --- listing and search -------------------------------------------------------------------

_SORT_KEYS: dict[str, tuple[str, type]] = {
    "new": ("p.created_at", datetime),
    "popular": ("p.runs_7d", int),
    "top_rated": ("p.rating_score", float),
    "relevance": ("ts_rank_cd(p.search, websearch_to_tsquery('english', $q))::float8", float),
}


class ListQuery(msgspec.Struct, kw_only=True):
    q: str | None = None
    tag: str | None = None
    creator: str | None = None
    model: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    sort: str | None = None
    owner_id: str | None = None  # a creator's own listing
    include_archived: bool = False  # only with owner_id == viewer
    cursor: str | None = None
    limit: int = 20


def _filters(query: ListQuery, arg: Any) -> tuple[list[str], str | None]:
    """WHERE conditions of a listing (everything but the cursor) and the `q` parameter's ref."""
    q = (query.q or "").strip() or None
    if (
        query.min_price is not None
        and query.max_price is not None
        and query.min_price > query.max_price
    ):
        raise validation_error("min_price", "min_price is greater than max_price.")
    where: list[str] = []
    if not query.include_archived:
        where.append("p.status = 'active'")
    q_ref = None
    if q is not None:
        q_ref = arg(q)
        where.append(f"p.search @@ websearch_to_tsquery('english', {q_ref})")
    if query.tag:
        where.append(f"p.tags @> ARRAY[{arg(query.tag.lower())}]::text[]")
    if query.creator:
        where.append(
            "p.owner_id = (SELECT id FROM users WHERE lower(handle) = lower("
            f"{arg(query.creator)}) AND deleted_at IS NULL)"
        )
    if query.owner_id:
        where.append(f"p.owner_id = {arg(uuid.UUID(query.owner_id))}")
    if query.model:
        where.append(f"p.model = {arg(query.model)}")
    if query.min_price is not None:
        where.append(f"p.price_cents >= {arg(query.min_price)}")
    if query.max_price is not None:
        where.append(f"p.price_cents <= {arg(query.max_price)}")
    return where, q_ref


def build_list_query(query: ListQuery) -> tuple[str, list[Any], str]:
    """(SQL, parameters, sort) of a listing page; bench/seed_prompts.py EXPLAINs these."""
    q = (query.q or "").strip() or None
    sort = query.sort or ("relevance" if q else "new")
    if sort == "relevance" and q is None:
        raise validation_error("sort", "sort=relevance needs a search query `q`.")
    params: list[Any] = []

    def arg(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    where, q_ref = _filters(query, arg)
    key_sql, key_kind = _SORT_KEYS[sort]
    key_sql = key_sql.replace("$q", q_ref or "")
    if query.cursor:
        key, after_id = decode_cursor(query.cursor, sort, key_kind)
        where.append(f"({key_sql}, p.id) < ({arg(key)}, {arg(after_id)})")
    # The page is chosen from prompts alone; owners are joined to those rows only.
    # A creator's own listing (include_archived: owner_id is the viewer) carries the owner-only
    # leak guard count; never the template.
    owner_only = ", p.leak_guard_redactions" if query.owner_id and query.include_archived else ""
    page_sql = (
        f"SELECT {_PROMPT_COLUMNS}{owner_only}, {key_sql} AS sort_key FROM prompts p "
        f"WHERE {' AND '.join(where) or 'true'} "
        f"ORDER BY {key_sql} DESC, p.id DESC LIMIT {arg(query.limit + 1)}"
    )
    sql = (
        f"SELECT p.*, {_OWNER_COLUMNS} FROM ({page_sql}) p JOIN users u ON u.id = p.owner_id "
        "ORDER BY p.sort_key DESC, p.id DESC"
    )
    return sql, params, sort


FACET_SCAN_LIMIT = 5000  # facets count over at most this many matching prompts (newest first)


async def facets(query: ListQuery) -> Facets:
    """Counts of the listing's matches by tag, model and price band, for filter links.

    Each facet ignores its own filter (the tag counts answer "what if I picked another tag"),
    and the scan is capped at the newest FACET_SCAN_LIMIT matches, so a broad query stays cheap.
    """

    async def counts(without: str, select: str) -> list[dict[str, Any]]:
        params: list[Any] = []

        def arg(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        narrowed = msgspec.structs.replace(query, **{without: None}, cursor=None)
        if without == "min_price":
            narrowed = msgspec.structs.replace(narrowed, max_price=None)
        where, _ = _filters(narrowed, arg)
        sample = (
            f"SELECT p.tags, p.model, p.price_cents FROM prompts p "
            f"WHERE {' AND '.join(where) or 'true'} ORDER BY p.created_at DESC "
            f"LIMIT {FACET_SCAN_LIMIT}"
        )
        return await fetch(select.replace("{sample}", sample), *params)

    tags = await counts(
        "tag",
        "SELECT t AS name, count(*) AS n FROM ({sample}) s, unnest(s.tags) t "
        "GROUP BY t ORDER BY n DESC, t LIMIT 15",
    )
    models = await counts(
        "model",
        "SELECT model AS name, count(*) AS n FROM ({sample}) s GROUP BY model "
        "ORDER BY n DESC, model LIMIT 10",
    )
    bands = await counts(
        "min_price",
        "SELECT count(*) FILTER (WHERE price_cents = 0) AS free, "
        "count(*) FILTER (WHERE price_cents > 0 AND price_cents <= 50) AS low, "
        "count(*) FILTER (WHERE price_cents > 50) AS high FROM ({sample}) s",
    )
    band = bands[0] if bands else {"free": 0, "low": 0, "high": 0}
    return Facets(
        tags=[FacetCount(value=r["name"], count=r["n"]) for r in tags],
        models=[FacetCount(value=r["name"], count=r["n"]) for r in models],
        prices=[
            FacetCount(value="free", count=band["free"]),
            FacetCount(value="up_to_50", count=band["low"]),
            FacetCount(value="over_50", count=band["high"]),
        ],
    )


async def list_prompts(query: ListQuery) -> PromptPage:
    """A page of prompts: keyset-paginated by (sort key, id), newest/most popular/best first.

    Listings never carry templates, not even the owner's own.
    """
    sql, params, sort = build_list_query(query)
    rows = await fetch(sql, *params)
    items, next_cursor = page(rows, query.limit, sort, lambda r: r["sort_key"])
    return PromptPage(items=[prompt_out(r) for r in items], next_cursor=next_cursor)
