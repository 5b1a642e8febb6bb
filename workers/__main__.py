"""`python -m workers`: an arq worker on uvloop (what `make run` and the Docker image start),
one that outlives Redis and Postgres outages (workers.resilient)."""

from __future__ import annotations

import asyncio

import uvloop

from workers.resilient import run
from workers.settings import WorkerSettings

if __name__ == "__main__":
    asyncio.set_event_loop(uvloop.new_event_loop())
    run(WorkerSettings)
