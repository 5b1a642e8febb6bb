"""The run reaper cron (see hub.runs.reaper): restarts or fails runs whose worker went silent."""

from __future__ import annotations

from typing import Any

from arq import cron

from hub.runs import reaper

REAP_EVERY_SECONDS = 5


async def reap_runs(ctx: dict[str, Any]) -> dict[str, int]:
    return await reaper.reap()


CRON_JOBS: list[Any] = [
    cron(
        reap_runs,
        second=set(range(0, 60, REAP_EVERY_SECONDS)),
        run_at_startup=True,
        unique=True,
        timeout=60,
    )
]
