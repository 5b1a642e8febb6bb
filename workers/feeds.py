"""Marketplace jobs: feed fan-out (batched, idempotent per item) and listing popularity."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from arq import cron

from hub.community import feed
from hub.prompts import popularity

log = structlog.get_logger("workers.feeds")


async def fanout_prompt_event(
    ctx: dict[str, Any], prompt_id: str, version: int, event_at: str, after: str | None = None
) -> int:
    """One batch of feed items for a prompt's new version; the batch's transaction also queues
    the next batch (through the outbox), if any.

    Idempotent: items are unique per (follower, prompt, version), batches have fixed job ids.
    """
    next_after = await feed.fanout_batch(
        prompt_id, version, datetime.fromisoformat(event_at), after
    )
    return 0 if next_after is None else 1


async def refresh_prompt_popularity(ctx: dict[str, Any]) -> int:
    """Recompute `prompts.runs_7d` (the `popular` sort) from the runs of the last 7 days."""
    changed = await popularity.refresh_runs_7d()
    log.info("job.refresh_prompt_popularity", changed=changed)
    return changed


FUNCTIONS: list[Any] = [fanout_prompt_event, refresh_prompt_popularity]
CRON_JOBS: list[Any] = [
    cron(refresh_prompt_popularity, minute=set(range(0, 60, 10)), second={30}, run_at_startup=True)
]
