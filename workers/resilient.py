"""An arq worker that outlives its dependencies.

arq's own loop ends the process at the first Redis error (and `create_pool` gives up after
five tries), so any Redis blip used to leave the hub without a worker: no runs started, no
reaper. `ResilientWorker` keeps the same job semantics and changes only what happens when
Redis or Postgres is unreachable:

- start-up needs neither: the pool is the process's shared Redis client (timeouts, fail-fast
  while down) and the DB pool connects lazily; the start-up hook never raises for an outage;
- each turn of the poll loop that fails is retried after a backoff (0.25 s doubling to 5 s),
  and the state change is logged once (`worker.redis_down` / `worker.redis_up`);
- a job whose bookkeeping in Redis failed (the job itself may or may not have run) has its
  "in progress" mark removed once Redis answers again, so the job is picked up again at once
  instead of an hour later; every job is idempotent, so a second run is harmless;
- once Redis answers again, `ctx["after_outage"]` runs (the hub's worker re-announces its
  heartbeat at once, so /readyz turns green without waiting for the next beat);
- the loop touches `HUB_WORKER_ALIVE_FILE` on every turn, so a container health check can
  tell a live worker (even one waiting for Redis) from a hung one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import structlog
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix
from arq.utils import poll
from arq.worker import Worker, get_kwargs

from hub.platform import outages
from hub.platform import redis as hub_redis
from hub.platform.settings import get_settings

log = structlog.get_logger("workers")

BACKOFF_FIRST = 0.25
BACKOFF_MAX = 5.0


class ResilientWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._down_since: float | None = None
        self._backoff = BACKOFF_FIRST
        self._releases: set[asyncio.Task[None]] = set()
        alive = get_settings().worker_alive_file
        self._alive_file = Path(alive) if alive else None
        self._last_touch = 0.0

    async def main(self) -> None:
        if self._pool is None:
            assert self.redis_settings is not None
            client = hub_redis.connect(get_settings().queue_redis or _dsn(self.redis_settings))
            self._pool = ArqRedis(
                connection_pool=client.connection_pool,
                job_serializer=self.job_serializer,
                job_deserializer=self.job_deserializer,
                default_queue_name=self.queue_name,
                expires_extra_ms=self.expires_extra_ms,
            )
            self._owns_redis = True
        log.info("worker.starting", functions=len(self.functions), queue=self.queue_name)
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)
        async for _ in poll(self.poll_delay_s):
            self._touch_alive_file()
            try:
                await self._poll_iteration()
            except Exception as exc:  # noqa: BLE001 - the worker must never stop by itself
                await self._failed_turn(exc)
                continue
            if self._down_since is not None:
                log.warning(
                    "worker.redis_up", down_seconds=round(time.monotonic() - self._down_since, 2)
                )
                self._down_since = None
                self._backoff = BACKOFF_FIRST
                hook = self.ctx.get("after_outage")
                if hook is not None:
                    with contextlib.suppress(Exception):
                        await hook(self.ctx)

    async def _failed_turn(self, exc: Exception) -> None:
        dependency = outages.outage_of(exc)
        if dependency is None:
            log.error("worker.loop_error", exc_info=exc)
        elif self._down_since is None:
            self._down_since = time.monotonic()
            log.warning(
                "worker.redis_down" if dependency == "redis" else "worker.dependency_down",
                dependency=dependency,
                error=f"{type(exc).__name__}: {exc}"[:200],
            )
        await asyncio.sleep(self._backoff)
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)

    def _touch_alive_file(self) -> None:
        if self._alive_file is None:
            return
        now = time.monotonic()
        if now - self._last_touch >= 1.0:
            self._last_touch = now
            with contextlib.suppress(OSError):
                self._alive_file.touch()

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """One job at a time, so a Redis error between "slot taken" and "task started" gives
        the slot back (arq's version leaks it).

        A job stays in the queue until it finishes, so every poll lists the jobs running now
        as well (a streaming run holds its job for its whole length): arq checks each one
        with WATCH, EXISTS and ZSCORE, three round trips per running job, four times a
        second. Jobs running in this process are skipped, and those running elsewhere are
        found with one pipelined EXISTS of their in-progress keys; arq still checks the
        remaining candidates under WATCH before it takes one."""
        job_ids = await self._not_running(job_ids)
        for job_id in job_ids:
            counter, tasks = self.job_counter, len(self.tasks)
            try:
                await super().start_jobs([job_id])
            except BaseException:
                if self.job_counter > counter and len(self.tasks) == tasks:
                    self.job_counter -= 1
                    self.sem.release()
                raise

    async def _not_running(self, job_ids: list[bytes]) -> list[bytes]:
        tasks = self.tasks
        fresh = []
        for job_id in job_ids:
            task = tasks.get(job_id.decode())
            if task is None or task.done():
                fresh.append(job_id)
        if len(fresh) < 2:
            return fresh
        async with self.pool.pipeline(transaction=False) as pipe:
            for job_id in fresh:
                pipe.exists(in_progress_key_prefix + job_id.decode())
            running = await pipe.execute()
        return [job_id for job_id, busy in zip(fresh, running, strict=True) if not busy]

    async def run_job(self, job_id: str, score: int) -> None:
        try:
            await super().run_job(job_id, score)
        except Exception as exc:
            if outages.outage_of(exc) == "redis":
                self._release_later(job_id)
            raise

    def _release_later(self, job_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._release(job_id))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release(self, job_id: str) -> None:
        """Clear the job's in-progress mark once Redis answers, so it runs again soon."""
        delay = BACKOFF_FIRST
        deadline = time.monotonic() + self.in_progress_timeout_s
        while time.monotonic() < deadline:
            try:
                await self.pool.delete(in_progress_key_prefix + job_id)
                log.info("worker.job_released", job_id=job_id)
                return
            except Exception:  # noqa: BLE001 - Redis still down: try again later
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    async def close(self) -> None:
        for task in list(self._releases):
            task.cancel()
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if not self._pool:
            return
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.pool.delete(self.health_check_key)
        if self.on_shutdown:
            await self.on_shutdown(self.ctx)
        self._pool = None
        if getattr(self, "_owns_redis", False):
            await hub_redis.close()


def _dsn(settings: Any) -> str:
    auth = f":{settings.password}@" if settings.password else ""
    return f"redis://{auth}{settings.host}:{settings.port}/{settings.database}"


def create(settings_cls: Any, **overrides: Any) -> ResilientWorker:
    return ResilientWorker(**{**get_kwargs(settings_cls), **overrides})


def run(settings_cls: Any) -> None:
    """`python -m workers`: run until SIGINT/SIGTERM, whatever Redis and Postgres do."""
    worker = create(settings_cls)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    worker.run()
