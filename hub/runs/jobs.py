"""A run's arq job: its id, and where a new run's first job goes.

Why a module of its own: the start transaction, the reaper (restarts and re-enqueues) and
the outbox relay must agree on the job id `run:<id>:<attempt>`, which is what makes
enqueuing an attempt twice create one job (arq runs at-least-once; the executor's claim is
idempotent). Where a new run's job goes is a choice of the surrounding code, not of the
caller of `start_run`: production sends it to the default queue; the demo seeder executes
its runs inline (`jobs_held_back`); a test drives its own worker process on a queue of its
own (`jobs_routed_to`). Both are context managers over a context variable, so they cover
exactly the code inside them and never leak into other tasks.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

from arq.connections import ArqRedis

from hub import outbox
from hub.platform.redis import get_redis

JOB_FUNCTION = "execute_run"


class _Route:
    """Where new runs' first jobs go: `queue` (None = arq's default), or nowhere."""

    __slots__ = ("hold", "queue")

    def __init__(self, queue: str | None = None, *, hold: bool = False) -> None:
        self.queue = queue
        self.hold = hold


_DEFAULT = _Route()
_route: ContextVar[_Route] = ContextVar("run_job_route", default=_DEFAULT)
_arq: ArqRedis | None = None


def job_id(run_id: str | uuid.UUID, attempt: int) -> str:
    """The arq job id of an attempt: enqueuing it twice creates one job."""
    return f"run:{run_id}:{attempt}"


@contextlib.contextmanager
def jobs_routed_to(queue: str) -> Iterator[None]:
    """New runs started inside send their job to `queue` (a worker process of its own)."""
    token = _route.set(_Route(queue))
    try:
        yield
    finally:
        _route.reset(token)


@contextlib.contextmanager
def jobs_held_back() -> Iterator[None]:
    """New runs started inside get no job: the caller executes them itself."""
    token = _route.set(_Route(hold=True))
    try:
        yield
    finally:
        _route.reset(token)


async def enqueue_first(run_id: str) -> None:
    """Inside the start transaction: the first attempt's job, as an outbox row (delivered
    after commit, or by the relay if Redis is down)."""
    route = _route.get()
    if not route.hold:
        await outbox.enqueue(JOB_FUNCTION, run_id, 1, job_id=job_id(run_id, 1), queue=route.queue)


async def enqueue_retry(run_id: str, attempt: int) -> None:
    """Inside a restart's transaction: the new attempt's job, as an outbox row."""
    await outbox.enqueue(JOB_FUNCTION, run_id, attempt, job_id=job_id(run_id, attempt))


def _arq_pool() -> ArqRedis:
    """arq's enqueue API over the process's shared Redis connection pool."""
    global _arq
    pool = get_redis().connection_pool
    if _arq is None or _arq.connection_pool is not pool:
        _arq = ArqRedis(pool)
    return _arq


async def enqueue(run_id: str, attempt: int) -> None:
    """Enqueue an attempt's job now (the reaper, for a queued run no worker took; a no-op
    while the job still exists)."""
    await _arq_pool().enqueue_job(
        JOB_FUNCTION, str(run_id), attempt, _job_id=job_id(run_id, attempt)
    )
