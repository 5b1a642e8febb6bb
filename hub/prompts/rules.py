"""Rules the marketplace shares with the runs domain, each kept in exactly one place."""

from __future__ import annotations

import uuid

from hub.platform.db import fetchrow


async def has_completed_run(user_id: str, prompt_id: str) -> bool:
    """May `user_id` review `prompt_id`? Only buyers with a completed run of it may."""
    row = await fetchrow(
        "SELECT EXISTS (SELECT 1 FROM runs WHERE buyer_id = $1 AND prompt_id = $2 "
        "AND status = 'completed') AS ok",
        uuid.UUID(str(user_id)),
        uuid.UUID(str(prompt_id)),
    )
    return bool(row and row["ok"])
