"""Queueing feed fan-out jobs (the jobs themselves: hub.community.feed, workers/feeds.py).

Kept free of other hub imports (but the outbox) so that the prompts domain can call it
without an import cycle.
"""

from __future__ import annotations

from datetime import datetime

from hub import outbox

FANOUT_JOB = "fanout_prompt_event"


async def enqueue_prompt_fanout(
    prompt_id: str, version: int, event_at: datetime, after: str | None = None
) -> None:
    """Queue one batch of feed fan-out for a prompt's version, through the outbox: call it
    inside the transaction that saves the prompt (or the previous batch), so the fan-out
    happens if and only if that commits, whatever Redis is doing at that moment. The job id
    makes a second delivery a no-op."""
    job_id = f"feed:{prompt_id}:{version}:{after or 'start'}"
    await outbox.enqueue(FANOUT_JOB, prompt_id, version, event_at.isoformat(), after, job_id=job_id)
