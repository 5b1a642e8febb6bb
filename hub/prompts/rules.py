"""Rules the marketplace shares with the runs domain, each kept in exactly one place."""

from __future__ import annotations

import uuid

from hub.db import fetchrow


async def runs_table_exists() -> bool:
    """True once the runs domain's `runs` table exists (it lands separately from prompts)."""
    row = await fetchrow("SELECT to_regclass('public.runs') IS NOT NULL AS present")
    return bool(row and row["present"])


async def has_completed_run(user_id: str, prompt_id: str) -> bool:
    """May `user_id` review `prompt_id`? Only buyers with a completed run of it may.

    False while the runs table does not exist yet.
    """
    if not await runs_table_exists():
        return False
    row = await fetchrow(
        "SELECT EXISTS (SELECT 1 FROM runs WHERE buyer_id = $1 AND prompt_id = $2 "
        "AND status = 'completed') AS ok",
        uuid.UUID(str(user_id)),
        uuid.UUID(str(prompt_id)),
    )
    return bool(row and row["ok"])
