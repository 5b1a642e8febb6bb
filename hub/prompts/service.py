"""Prompts rules: create, read with Private Mode, update with versions, archive; the prompt
row as every prompts module reads it (columns, `prompt_out`, `load_row`), and the prompt as
the runs domain needs it (`get_prompt_for_run`). Samples are `hub.prompts.samples`; listing
and search `hub.prompts.listing`.

Private Mode: the template is selected from the database only when the viewer owns the prompt
or the prompt is not private (`OWNER_ONLY_COLUMNS`), and is never logged or published. The
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
from hub.moderation import audit, suspensions
from hub.platform import outages
from hub.platform.db import fetch, fetchrow
from hub.platform.errors import forbidden, not_found, too_many, validation_error
from hub.platform.pagination import decode_cursor, page
from hub.platform.redis import get_redis
from hub.prompts import events
from hub.prompts.events import enqueue_prompt_fanout
from hub.prompts.schemas import (
    OwnerOut,
    PromptCreate,
    PromptOut,
    PromptPatch,
    VersionOut,
    VersionPage,
)
from hub.prompts.templating import TemplateError, derive_variables
from hub.providers.models import get_model

log = structlog.get_logger(__name__)

MAX_PROMPTS_PER_HOUR = 60

PROMPT_COLUMNS = (
    "p.id, p.owner_id, p.title, p.description, p.variables, p.model, p.price_cents, "
    "p.private_mode, p.leak_guard, p.tags, p.sample_inputs, p.status, p.version, p.rating_avg, "
    "p.rating_count, p.run_count, p.live_runs, p.runs_7d, p.rating_score, p.created_at, "
    "p.updated_at"
)
OWNER_COLUMNS = "u.handle AS owner_handle, u.display_name AS owner_display_name"
PUBLIC_COLUMNS = f"{PROMPT_COLUMNS}, {OWNER_COLUMNS}"
# $1 is always the viewer's id (NULL when anonymous).
OWNER_ONLY_COLUMNS = (
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


def json_object(value: Any) -> dict[str, str]:
    """A jsonb column's object, whether the driver returned it decoded or as text."""
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
        sample_inputs=json_object(row["sample_inputs"]),
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


def check_sample_inputs(inputs: dict[str, str], variables: list[str], field: str) -> None:
    """Sample inputs (the prompt's, or a sample's) name only the template's variables."""
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


async def load_row(prompt_id: uuid.UUID, viewer: uuid.UUID | None, *, lock: bool = False) -> dict:
    """The prompt's row as `viewer` may see it (the template only when visible to them), or
    404: someone else's archived prompt does not exist for the viewer."""
    row = await fetchrow(
        f"SELECT {PUBLIC_COLUMNS}, {OWNER_ONLY_COLUMNS} FROM prompts p "
        f"JOIN users u ON u.id = p.owner_id WHERE p.id = $2" + (" FOR UPDATE OF p" if lock else ""),
        viewer,
        prompt_id,
    )
    if row is None or (row["status"] != "active" and row["owner_id"] != viewer):
        raise not_found("This prompt")
    return row


async def visible_prompt_row(prompt_id: uuid.UUID, viewer_id: str | None) -> dict[str, Any]:
    """The prompt's row (template only if visible) or 404; used by reviews and samples too."""
    return await load_row(prompt_id, _viewer(viewer_id))


def require_owner(row: dict[str, Any], viewer: uuid.UUID | None, action: str) -> None:
    """403 for an owner-only `action` on a prompt the viewer can see but does not own."""
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
    check_sample_inputs(body.sample_inputs, variables, "sample_inputs")
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
        row = await load_row(created["id"], owner)
        out = prompt_out(row)
        await enqueue_prompt_fanout(out.id, 1, out.created_at)
    log.info("prompt.created", prompt_id=out.id, private_mode=out.private_mode)
    return out


async def get_prompt(prompt_id: uuid.UUID, viewer_id: str | None) -> PromptOut:
    return prompt_out(await load_row(prompt_id, _viewer(viewer_id)))


async def update_prompt(prompt_id: uuid.UUID, owner_id: str, patch: PromptPatch) -> PromptOut:
    owner = uuid.UUID(owner_id)
    if patch.model is not None:
        _check_model(patch.model)
    new_version: int | None = None
    async with outbox.transaction():
        row = await load_row(prompt_id, owner, lock=True)
        require_owner(row, owner, "edit it")
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
            check_sample_inputs(patch.sample_inputs, variables, "sample_inputs")
            changes["sample_inputs"] = json.dumps(patch.sample_inputs)
        elif new_version is not None:
            kept = {k: v for k, v in json_object(row["sample_inputs"]).items() if k in variables}
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
        row = await load_row(prompt_id, owner)
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
    row = await load_row(prompt_id, viewer)
    require_owner(row, viewer, "see its versions")
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
