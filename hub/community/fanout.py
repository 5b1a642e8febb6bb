"""Queueing feed fan-out jobs (the jobs themselves: hub.community.feed, workers/feeds.py).

Kept free of other hub imports so that the prompts domain can call it without an import cycle.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from arq.connections import ArqRedis

from hub.redis import get_redis

log = structlog.get_logger(__name__)

FANOUT_JOB = "fanout_prompt_event"


def _arq() -> ArqRedis:
    """An arq client on the process's shared Redis pool (nothing extra to open or close)."""
    return ArqRedis(pool_or_conn=get_redis().connection_pool)


async def enqueue_prompt_fanout(
    prompt_id: str, version: int, event_at: datetime, after: str | None = None
) -> None:
    """Queue (idempotently, by job id) one batch of feed fan-out for a prompt's version.

    Called after the prompt's transaction committed. A failure is logged, not raised: the
    prompt is already saved, and the owner should not see an error for a side effect.
    """
    job_id = f"feed:{prompt_id}:{version}:{after or 'start'}"
    try:
        await _arq().enqueue_job(
            FANOUT_JOB, prompt_id, version, event_at.isoformat(), after, _job_id=job_id
        )
    except Exception:  # noqa: BLE001
        log.error("feed.enqueue_failed", prompt_id=prompt_id, version=version, exc_info=True)
