"""arq worker: `arq workers.settings.WorkerSettings`.

Shared clients (httpx, the DB pool, Redis for realtime publishing) are created once in
`startup` and kept in `ctx`. Every job is idempotent because arq delivers at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import time
from typing import Any

import httpx
import structlog
from arq import cron
from arq.connections import RedisSettings

from hub.platform import redis as hub_redis
from hub.platform.db import close_pool, start_pool
from hub.platform.logging import configure_logging
from hub.platform.settings import get_settings
from hub.wiring import register_domain_hooks
from workers import jobs

log = structlog.get_logger("workers")
settings = get_settings()

HEARTBEAT_EVERY_SECONDS = 10


async def heartbeat(ctx: dict[str, Any]) -> None:
    """Tell /readyz that a worker is alive."""
    await ctx["redis"].set(
        settings.worker_heartbeat_key,
        f"{ctx['worker_id']} {time.time():.0f}".encode(),
        ex=settings.worker_heartbeat_ttl_seconds,
    )


async def startup(ctx: dict[str, Any]) -> None:
    configure_logging(settings.log_level, settings.log_json)
    register_domain_hooks()  # the same hooks as the app: a job may register or erase a user
    ctx["worker_id"] = f"{socket.gethostname()}:{os.getpid()}"
    ctx["after_outage"] = heartbeat
    ctx["http"] = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
    hub_redis.connect(settings.queue_redis)
    await start_pool(min_size=0, max_size=10)  # connects lazily: Postgres may be down now
    from workers import realtime_publisher

    await realtime_publisher.install(settings)
    from hub import outbox

    ctx["outbox_relay"] = asyncio.create_task(outbox.relay_forever())
    try:
        await heartbeat(ctx)
    except Exception as exc:  # noqa: BLE001 - Redis may be down; the worker waits for it
        log.warning("worker.heartbeat_failed", error=f"{type(exc).__name__}: {exc}"[:200])
    # As the app does: the start-up heap (the whole hub is imported) out of the collector's
    # way and fewer gen0 passes. A full collection walked it in 170-360 ms, stalling every
    # run streaming in this process (their deltas' p99).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    log.info("worker.started", worker_id=ctx["worker_id"])


async def shutdown(ctx: dict[str, Any]) -> None:
    from hub.runs import executor
    from workers import realtime_publisher

    relay = ctx.get("outbox_relay")
    if relay is not None:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await relay
    await executor.shutdown()  # flush and stop the run streams of this worker
    await realtime_publisher.uninstall()
    await ctx["http"].aclose()
    await close_pool()
    await hub_redis.close()
    log.info("worker.stopped", worker_id=ctx.get("worker_id"))


class WorkerSettings:
    functions = jobs.FUNCTIONS
    cron_jobs = [
        cron(heartbeat, second=set(range(0, 60, HEARTBEAT_EVERY_SECONDS)), run_at_startup=False),
        cron(jobs.prune_refresh_tokens, minute={17}, second={0}),
        *jobs.CRON_JOBS,
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = RedisSettings.from_dsn(settings.queue_redis or "redis://127.0.0.1:6379/0")
    # A streaming run holds a job slot for its whole duration.
    max_jobs = 1000
    # How often the worker polls the queue: part of a run's time to first token (half of it on
    # average). Each poll also checks every running job for aborts, so polling costs CPU in
    # proportion to the runs in flight: 0.05 s cost a core-third at 100 streaming runs.
    poll_delay = 0.25
    job_timeout = 3600
    keep_result = 3600
    health_check_interval = 30
    allow_abort_jobs = True
