"""Recommendations job: refresh stale "more like this" and "for you" lists, a batch a minute."""

from __future__ import annotations

from typing import Any

import structlog
from arq import cron

from hub.recommendations import compute

log = structlog.get_logger("workers.recommendations")


async def refresh_recommendations(ctx: dict[str, Any], limit: int | None = None) -> dict[str, int]:
    """Idempotent: lists are replaced whole; a list refreshed twice is simply recomputed."""
    done = await compute.refresh_batch(limit)
    if done["prompts"] or done["users"]:
        log.info("job.refresh_recommendations", **done)
    return done


FUNCTIONS: list[Any] = [refresh_recommendations]
CRON_JOBS: list[Any] = [
    cron(refresh_recommendations, second={45}, run_at_startup=True, unique=True, timeout=600)
]
