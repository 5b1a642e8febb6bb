"""Run jobs. `execute_run` is enqueued with job id `run:<run_id>:<attempt>` (hub.runs.jobs).

Idempotent: it claims the run (`queued -> running` for that attempt) or does nothing, so a
duplicated or retried job never streams, charges or announces twice.

If Postgres cannot be reached (the claim, or a run's end past what the executor rides out),
the job is retried with a backoff (arq `Retry`, same job id) rather than failed: a failed job
keeps its result for an hour, and the reaper's re-enqueue would be a no-op until then, leaving
the run queued. A retry that finds the run claimed or finished does nothing.
"""

from __future__ import annotations

from typing import Any

import structlog
from arq import Retry
from arq.worker import func

from hub.platform import outages
from hub.runs import executor

log = structlog.get_logger("workers.runs")

#: Enough tries to wait out a Postgres outage of several minutes (10 s apart at most).
MAX_TRIES = 60


async def execute_run(ctx: dict[str, Any], run_id: str, attempt: int) -> str:
    try:
        return await executor.execute(run_id, attempt, worker_id=ctx["worker_id"], http=ctx["http"])
    except Exception as exc:
        if outages.outage_of(exc) != "postgres":
            raise
        tries = int(ctx.get("job_try") or 1)
        log.warning("run.job_retry", run_id=run_id, attempt=attempt, job_try=tries)
        raise Retry(defer=min(10.0, 0.5 * 2**tries)) from exc


FUNCTIONS: list[Any] = [func(execute_run, name="execute_run", max_tries=MAX_TRIES)]
