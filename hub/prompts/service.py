"""Prompts rules: create, read with Private Mode, update with versions, archive, samples, listing."""

from __future__ import annotations

import uuid

import msgspec

from hub.db import fetchrow
from hub.prompts.templating import (
    MissingVariables,
    TemplateError,
    derive_variables,
    render_template,
)

__all__ = [
    "MissingVariables",
    "PromptForRun",
    "TemplateError",
    "derive_variables",
    "get_prompt_for_run",
    "render_template",
]


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


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError):
        return None


async def get_prompt_for_run(prompt_id: str) -> PromptForRun | None:
    """The prompt's current version for a run, or None when no such prompt exists.

    Archived prompts are returned too (status "archived"); callers refuse new runs on them.
    Works inside the caller's transaction (hub.db.fetchrow honours it).
    """
    pid = _uuid(prompt_id)
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
