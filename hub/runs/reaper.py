"""The run reaper: no run stays `queued`/`running` forever (docs/money.md, invariant 6).

Each pass (an arq cron, every few seconds, on whichever worker takes the tick):
- a `running` run whose heartbeat is older than `run_stale_seconds` lost its worker. It is
  cancelled if the buyer asked for that, restarted (`run.restarted`, the output cleared,
  a new attempt enqueued) while attempts remain, or else failed with a full refund;
- a `queued` run no worker took for a while is enqueued again (the job id makes that a no-op
  if its job still exists), and failed + refunded after `run_queued_timeout_seconds`;
- a terminal event committed but never published (the publisher died in between) is
  published now.
The transitions are `hub.runs.lifecycle`'s, each guarded under the run's row lock or in one
UPDATE, so concurrent reapers and a late worker cannot both win; the reaper only decides which.
"""

from __future__ import annotations

import structlog

from hub.platform.db import fetch
from hub.platform.settings import get_settings
from hub.runs import jobs, lifecycle, publishing

log = structlog.get_logger(__name__)

WORKER_LOST = (
    "The machine running this prompt stopped and the run could not be finished. "
    "You were not charged."
)
NOT_STARTED = "No worker could start this run in time. You were not charged."
QUEUED_RETRY_SECONDS = 30.0


async def reap(
    *,
    stale_seconds: float | None = None,
    max_attempts: int | None = None,
    queued_retry_seconds: float = QUEUED_RETRY_SECONDS,
    publish_grace_seconds: float = 10.0,
    limit: int = 200,
) -> dict[str, int]:
    settings = get_settings()
    stale = float(settings.run_stale_seconds if stale_seconds is None else stale_seconds)
    attempts = settings.run_max_attempts if max_attempts is None else max_attempts
    counts = {"restarted": 0, "failed": 0, "canceled": 0, "requeued": 0, "republished": 0}

    stale_runs = await fetch(
        "SELECT id, attempt, cancel_requested_at FROM runs WHERE status = 'running' "
        "AND heartbeat_at < now() - make_interval(secs => $1) ORDER BY heartbeat_at LIMIT $2",
        stale,
        limit,
    )
    for r in stale_runs:
        run_id = str(r["id"])
        if r["cancel_requested_at"] is not None:
            terminal = await lifecycle.cancel_now(
                run_id, from_status=("running",), only_if_silent_for=stale
            )
            if terminal is not None:
                await lifecycle.announce(terminal)
                counts["canceled"] += 1
        elif r["attempt"] < attempts:
            if await lifecycle.restart(run_id, r["attempt"], stale):
                counts["restarted"] += 1
        else:
            terminal = await lifecycle.fail(
                run_id, "worker_lost", WORKER_LOST, only_if_silent_for=stale
            )
            if terminal is not None:
                await lifecycle.announce(terminal)
                counts["failed"] += 1

    queued = await fetch(
        "SELECT id, attempt, cancel_requested_at, "
        "created_at < now() - make_interval(secs => $2) AS expired "
        "FROM runs WHERE status = 'queued' AND heartbeat_at < now() - make_interval(secs => $1) "
        "ORDER BY heartbeat_at LIMIT $3",
        float(queued_retry_seconds),
        float(settings.run_queued_timeout_seconds),
        limit,
    )
    for r in queued:
        run_id = str(r["id"])
        if r["cancel_requested_at"] is not None:
            terminal = await lifecycle.cancel_now(run_id, from_status=("queued",))
            if terminal is not None:
                await lifecycle.announce(terminal)
                counts["canceled"] += 1
        elif r["expired"]:
            terminal = await lifecycle.fail(run_id, "not_started", NOT_STARTED)
            if terminal is not None:
                await lifecycle.announce(terminal)
                counts["failed"] += 1
        else:
            await fetch(
                "UPDATE runs SET heartbeat_at = now() WHERE id = $1 AND status = 'queued'", r["id"]
            )
            await jobs.enqueue(run_id, r["attempt"])
            counts["requeued"] += 1

    unpublished = await fetch(
        "SELECT id, terminal_event, terminal_published_at FROM runs "
        "WHERE terminal_event IS NOT NULL "
        "AND terminal_published_at IS NULL AND finished_at < now() - make_interval(secs => $1) "
        "LIMIT $2",
        float(publish_grace_seconds),
        limit,
    )
    for r in unpublished:
        if await publishing.publish_unpublished_terminal(r):
            counts["republished"] += 1
    if any(counts.values()):
        log.info("runs.reaped", **counts)
    return counts
