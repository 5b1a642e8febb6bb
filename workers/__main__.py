"""`python -m workers`: an arq worker on uvloop (what `make run` and the Docker image start)."""

from __future__ import annotations

import asyncio

import uvloop
from arq.worker import run_worker

from workers.settings import WorkerSettings

if __name__ == "__main__":
    asyncio.set_event_loop(uvloop.new_event_loop())
    run_worker(WorkerSettings)  # type: ignore[arg-type]
