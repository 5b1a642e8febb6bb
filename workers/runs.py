"""Run jobs. `execute_run` is enqueued with job id `run:<run_id>:<attempt>` (hub.runs.service).

Idempotent: it claims the run (`queued -> running` for that attempt) or does nothing, so a
duplicated or retried job never streams, charges or announces twice.
"""

from __future__ import annotations

from typing import Any

from hub.runs import executor


async def execute_run(ctx: dict[str, Any], run_id: str, attempt: int) -> str:
    return await executor.execute(run_id, attempt, worker_id=ctx["worker_id"], http=ctx["http"])


FUNCTIONS: list[Any] = [execute_run]
