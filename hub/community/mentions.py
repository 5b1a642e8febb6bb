"""Mentions: `@handle` in a chat message or a review reply names a user.

`find` resolves the handles a text names (existing users, case-insensitively, at most
`MAX_MENTIONS` per text) into `{id, handle, url}`, stored with the message so its links keep
pointing at the same people after a rename; clients render each `@handle` of the text that
matches one as a link to `url`. `notify` tells the named users (type `mention`), once per
message (the dedupe key), inside the caller's transaction; who may be told (readers of the
room only) is for the caller to decide. Someone who blocked the author hears nothing.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from hub.community import notifications
from hub.platform.db import fetch

MAX_MENTIONS = 10
EXCERPT_CHARS = 140
# `@` not inside a word or an email address, then a whole handle (3-30 of A-Z a-z 0-9 _).
_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9_]{3,30})(?![A-Za-z0-9_])")


def handles(text: str) -> list[str]:
    """The distinct handles `text` names, in order of appearance (case-insensitively)."""
    seen: dict[str, str] = {}
    for match in _MENTION.finditer(text):
        handle = match.group(1)
        seen.setdefault(handle.lower(), handle)
        if len(seen) >= MAX_MENTIONS:
            break
    return list(seen.values())


async def find(text: str) -> list[dict[str, Any]]:
    """The users `text` mentions: `[{id, handle, url}]` in order of appearance."""
    names = handles(text)
    if not names:
        return []
    rows = await fetch(
        "SELECT id, handle FROM users WHERE lower(handle) = ANY($1::text[]) AND deleted_at IS NULL",
        [n.lower() for n in names],
    )
    by_name = {r["handle"].lower(): r for r in rows}
    return [
        {
            "id": str(by_name[n.lower()]["id"]),
            "handle": by_name[n.lower()]["handle"],
            "url": f"/creators/{by_name[n.lower()]['handle']}",
        }
        for n in names
        if n.lower() in by_name
    ]


def excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "\u2026"


async def notify(
    mentioned: list[dict[str, Any]],
    author_id: str,
    dedupe_key: str,
    text: str,
    *,
    prompt_id: uuid.UUID | None = None,
    review_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> list[uuid.UUID]:
    """One `mention` notification per named user (not the author), in the caller's transaction;
    the ids to publish after commit."""
    notes = []
    for user in mentioned:
        if user["id"] == author_id:
            continue
        note = await notifications.notify(
            uuid.UUID(user["id"]),
            "mention",
            dedupe_key,
            actor_id=uuid.UUID(author_id),
            prompt_id=prompt_id,
            review_id=review_id,
            data={**(data or {}), "excerpt": excerpt(text)},
        )
        if note is not None:
            notes.append(note)
    return notes
