"""Prometheus gauges for runs and money, refreshed from the database.

`/metrics` is served by each hub process while runs finish in workers, so these are read from
Postgres (the source of truth) rather than counted in-process: call `refresh()` periodically
(`run_forever()` in the app's lifespan) and the default registry exports them.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from prometheus_client import Gauge

from hub.platform.db import fetch

log = structlog.get_logger(__name__)

RUNS = Gauge("hub_runs_in_flight", "Runs queued or running now", ["status"])
LEDGER = Gauge(
    "hub_ledger_balance_cents", "Sum of ledger balances by account kind, in cents", ["account"]
)
OLDEST_IN_FLIGHT = Gauge(
    "hub_runs_oldest_in_flight_seconds", "Age of the oldest queued or running run"
)

LEAK_GUARD_REDACTIONS = Gauge(
    "hub_leak_guard_redactions",
    "Spans of template text the leak guard has hidden from run output, all time",
)
LEAK_GUARD_PROMPTS = Gauge(
    "hub_leak_guard_prompts", "Prompts whose runs have had template text hidden, all time"
)

STATUSES = ("queued", "running")


async def refresh() -> None:
    # In-flight runs only (the partial index runs_in_flight_idx): terminal totals grow without
    # bound and are the ledger's to report.
    rows = await fetch(
        "SELECT status, count(*) AS n FROM runs WHERE status IN ('queued', 'running') GROUP BY status"
    )
    counts = {r["status"]: int(r["n"]) for r in rows}
    for status in STATUSES:
        RUNS.labels(status).set(counts.get(status, 0))
    for r in await fetch("SELECT kind, sum(balance) AS s FROM ledger_accounts GROUP BY kind"):
        LEDGER.labels(r["kind"]).set(int(r["s"] or 0))
    oldest = await fetch(
        "SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age FROM runs "
        "WHERE status IN ('queued', 'running')"
    )
    OLDEST_IN_FLIGHT.set(float(oldest[0]["age"]))
    # Counted on the prompts (partial index on leak_guard_redactions > 0), not the runs.
    guard = await fetch(
        "SELECT coalesce(sum(leak_guard_redactions), 0) AS s, count(*) AS n FROM prompts "
        "WHERE leak_guard_redactions > 0"
    )
    LEAK_GUARD_REDACTIONS.set(int(guard[0]["s"]))
    LEAK_GUARD_PROMPTS.set(int(guard[0]["n"]))
    from hub import outbox

    await outbox.refresh_metrics()


async def run_forever(every_seconds: float = 30.0) -> None:
    while True:
        with contextlib.suppress(Exception):
            await refresh()
        await asyncio.sleep(every_seconds)
