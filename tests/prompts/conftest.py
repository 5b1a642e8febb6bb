"""Marketplace community fixtures.

`grant_completed_run(user_id, prompt_id)` makes the review rule pass for that pair. When the
runs domain's `runs` table exists it inserts a real completed run row with SQL (fixture data,
not the run flow); until then it extends `has_completed_run` in-process (the server runs in
this process) so that the review logic can be tested. The lead switches this to the real run
flow once both domains have landed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from hub.community import reviews
from hub.db import fetch
from hub.prompts.rules import has_completed_run, runs_table_exists


@pytest.fixture
def grant_completed_run(monkeypatch) -> Callable[[str, str], Awaitable[None]]:
    granted: set[tuple[str, str]] = set()

    async def rule(user_id: str, prompt_id: str) -> bool:
        return (str(user_id), str(prompt_id)) in granted or await has_completed_run(
            user_id, prompt_id
        )

    monkeypatch.setattr(reviews, "has_completed_run", rule)

    async def grant(user_id: str, prompt_id: str) -> None:
        if await runs_table_exists():
            try:
                await fetch(
                    "INSERT INTO runs (prompt_id, buyer_id, status) VALUES ($1::uuid, $2::uuid, 'completed')",
                    prompt_id,
                    user_id,
                )
                return
            except Exception:  # noqa: BLE001 - the runs schema needs more columns: fall back
                pass
        granted.add((str(user_id), str(prompt_id)))

    return grant
