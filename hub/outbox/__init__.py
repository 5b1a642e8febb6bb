"""The outbox: what must happen because a transaction committed, and nothing else.

One rule for every domain. A side effect of a state change (a realtime publication, a job to
enqueue: feed fan-out, notifications, chat messages, sales, wallet updates, run events) is
written as an `outbox` row *in the transaction that makes the change*, so it exists if and
only if the change committed. Then:

- **Fast path.** Right after the commit, `transaction()` delivers its rows at once, in order
  (bounded by a short timeout), so live latency stays what it was: a chat message or a run
  event is published a millisecond after its commit, and its row is deleted.
- **Relay.** Rows the fast path could not deliver (Redis down, process died in between) are
  delivered by the worker's relay (`relay_forever`): `FOR UPDATE SKIP LOCKED` batches in id
  order, retried with a backoff for as long as the outage lasts, each outcome counted
  (`hub_outbox_*` metrics).
- **Idempotent at the receiver.** A publication carries the idempotency key `outbox:<id>`
  (the realtime engine publishes it at most once per channel), a job its own arq job id; so a
  row delivered twice (the fast path and the relay racing, or a crash between delivering and
  deleting) still has its effect once.

Use:

    async with outbox.transaction():
        ...                                        # the state change
        await outbox.publish(channel, data)        # its side effects
        await outbox.enqueue("fanout_prompt_event", prompt_id, 1, at, job_id="feed:...")

Domains never publish after commit "best effort" and never decide on their own what to do
when Redis is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from arq.connections import ArqRedis
from arq.constants import default_queue_name
from arq.jobs import Job, JobStatus
from prometheus_client import Counter, Gauge

from hub import live
from hub.platform import outages
from hub.platform.db import engine, fetch, fetchrow
from hub.platform.db import transaction as db_transaction
from hub.platform.redis import get_redis

log = structlog.get_logger(__name__)

#: How long the fast path may take before the relay takes over (the request is not held up).
FAST_PATH_SECONDS = 1.0
#: A row the fast path owns is left alone by the relay for this long.
FAST_PATH_GRACE_SECONDS = 3.0
RELAY_BATCH = 200
#: How often the relay checks on an enqueued job until arq has its result (re-enqueued if
#: Redis lost it), and how long an enqueued job's row is left alone at first.
JOB_CHECK_SECONDS = 15.0
RELAY_IDLE_SECONDS = 0.5
RETRY_MAX_SECONDS = 5.0
#: Rows failing for a reason other than an outage (a bug, a channel that no longer exists)
#: are given up after this many attempts, with an error log.
MAX_ATTEMPTS = 20

DELIVERED = Counter("hub_outbox_delivered", "Outbox rows delivered", ["kind", "path"])
FAILED = Counter("hub_outbox_failed_attempts", "Failed outbox deliveries", ["kind"])
DROPPED = Counter("hub_outbox_dropped", "Outbox rows given up (not an outage)", ["kind"])
BACKLOG = Gauge("hub_outbox_backlog", "Outbox rows not delivered yet")
OLDEST = Gauge("hub_outbox_oldest_seconds", "Age of the oldest outbox row not delivered yet")


@dataclass(slots=True)
class Row:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int = 0
    enqueued: bool = False  # a job row whose job was enqueued: checked on until it has run


class _NotHere(RuntimeError):
    """This process cannot deliver (no realtime publisher or Redis client): the relay will."""


_box: ContextVar[list[Row] | None] = ContextVar("hub_outbox_box", default=None)


@contextlib.asynccontextmanager
async def transaction(*, deliver: bool = True) -> AsyncIterator[list[Row]]:
    """A database transaction whose outbox rows are delivered right after it commits.

    Yields the list of its rows. With `deliver=False` the caller delivers them itself
    (`deliver_now(rows)`) when the order of things calls for it: a run's notices after its
    terminal event, a run's job after its `run.queued`. Nested in another
    `outbox.transaction()`, its rows join the outer one's; nested in a plain database
    transaction, its rows are delivered by the relay after that one commits.
    """
    outer = _box.get()
    if outer is not None:
        async with db_transaction():
            yield outer
        return
    if engine().current_transaction.get() is not None:
        # Inside someone else's plain transaction: its commit is not ours to see, so the
        # rows are left to the relay (they are due at once: delivered ~0.5 s after it).
        async with db_transaction():
            yield []
        return
    box: list[Row] = []
    token = _box.set(box)
    try:
        async with db_transaction():
            yield box
    finally:
        _box.reset(token)
    if box and deliver:
        await deliver_now(box)


async def add(kind: str, payload: dict[str, Any]) -> Row:
    """Write one outbox row in the current transaction (or on its own, delivered at once)."""
    in_box = _box.get()
    in_tx = engine().current_transaction.get() is not None
    row = await fetchrow(
        "INSERT INTO outbox (kind, payload, next_attempt_at) "
        "VALUES ($1, $2::jsonb, now() + make_interval(secs => $3)) RETURNING id",
        kind,
        json.dumps(payload, separators=(",", ":")),
        FAST_PATH_GRACE_SECONDS if (in_box is not None or not in_tx) else 0.0,
    )
    assert row is not None
    item = Row(int(row["id"]), kind, payload)
    if in_box is not None:
        in_box.append(item)
    elif not in_tx:
        await deliver_now([item])
    # else: inside a transaction of someone else's: the relay delivers it after the commit.
    return item


async def publish(channel: str, data: dict[str, Any]) -> Row:
    """A realtime publication of `data` (with its `type`) on `channel`, once, after commit."""
    return await add("publish", {"channel": channel, "data": data})


async def publish_many(items: list[tuple[str, dict[str, Any]]]) -> list[Row]:
    """Many publications in one INSERT (a feed fan-out batch)."""
    if not items:
        return []
    in_box = _box.get()
    in_tx = engine().current_transaction.get() is not None
    payloads = [json.dumps({"channel": c, "data": d}, separators=(",", ":")) for c, d in items]
    rows = await fetch(
        "INSERT INTO outbox (kind, payload, next_attempt_at) "
        "SELECT 'publish', p::jsonb, now() + make_interval(secs => $2) "
        "FROM unnest($1::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n RETURNING id",
        payloads,
        FAST_PATH_GRACE_SECONDS if (in_box is not None or not in_tx) else 0.0,
    )
    out = [
        Row(int(r["id"]), "publish", {"channel": c, "data": d})
        for r, (c, d) in zip(sorted(rows, key=lambda r: r["id"]), items, strict=True)
    ]
    if in_box is not None:
        in_box.extend(out)
    elif not in_tx:
        await deliver_now(out)
    return out


async def enqueue(
    function: str,
    *args: Any,
    job_id: str,
    queue: str | None = None,
    defer_seconds: float | None = None,
) -> Row:
    """An arq job, enqueued once (by its job id) after commit (and run `defer_seconds` after
    it is enqueued)."""
    payload: dict[str, Any] = {
        "function": function,
        "args": list(args),
        "job_id": job_id,
        "queue": queue,
    }
    if defer_seconds:
        payload["defer_seconds"] = defer_seconds
    return await add("job", payload)


# --- delivery ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Outcome:
    done: list[Row] = field(default_factory=list)  # delivered: delete
    enqueued: list[Row] = field(default_factory=list)  # jobs just enqueued: check on later
    waiting: list[Row] = field(default_factory=list)  # jobs queued or running: look again
    failed: Row | None = None  # where delivery stopped (it and the rest wait, in order)
    error: Exception | None = None


async def _deliver(rows: list[Row]) -> _Outcome:
    """Deliver `rows` in order and stop at the first failure: publications are done once
    published; a job stays *enqueued* (its row kept, see `_job`) until arq has its result."""
    out = _Outcome()
    i = 0
    try:
        if not live.is_installed():
            raise _NotHere("no realtime publisher in this process")
        while i < len(rows):
            if rows[i].kind == "publish":
                j = i
                while j < len(rows) and rows[j].kind == "publish":
                    j += 1
                chunk = rows[i:j]
                await live.publish_many(
                    [(r.payload["channel"], r.payload["data"], f"outbox:{r.id}") for r in chunk]
                )
                out.done += chunk
                i = j
            else:
                outcome = await _job(rows[i])
                getattr(out, outcome).append(rows[i])
                i += 1
    except Exception as exc:  # noqa: BLE001 - the caller keeps the rest for the relay
        out.failed, out.error = rows[i], exc
        out.waiting += rows[i + 1 :]
    return out


async def _job(row: Row) -> str:
    """Enqueue a job row's arq job; or, when it was enqueued before, see what became of it:
    'done' once arq has its result, 'enqueued' (again) when Redis lost it (restarted empty),
    'waiting' while it is queued or running. A job's row is gone only once it has run, so no
    job is lost with Redis's memory."""
    p = row.payload
    try:
        redis = get_redis()
    except RuntimeError as exc:
        raise _NotHere(str(exc)) from exc
    arq = ArqRedis(redis.connection_pool)
    queue = p.get("queue") or default_queue_name
    if row.enqueued:
        status = await Job(p["job_id"], arq, _queue_name=queue).status()
        if status == JobStatus.complete:
            return "done"
        if status != JobStatus.not_found:
            return "waiting"
    defer = p.get("defer_seconds")
    await arq.enqueue_job(
        p["function"],
        *p["args"],
        _job_id=p["job_id"],
        _queue_name=queue,
        _defer_by=timedelta(seconds=defer) if defer else None,
    )
    return "enqueued"


async def _settle(done: list[Row], enqueued: list[Row]) -> None:
    """Delete delivered rows; mark enqueued job rows to be checked on later."""
    if done:
        await fetch("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r.id for r in done])
    if enqueued:
        await fetch(
            "UPDATE outbox SET enqueued_at = now(), attempts = 0, last_error = NULL, "
            "next_attempt_at = now() + make_interval(secs => $2) WHERE id = ANY($1::bigint[])",
            [r.id for r in enqueued],
            JOB_CHECK_SECONDS,
        )


async def deliver_now(rows: list[Row]) -> None:
    """The fast path: deliver after commit, in order; whatever fails stays for the relay."""
    if not rows:
        return
    try:
        async with asyncio.timeout(FAST_PATH_SECONDS):
            out = await _deliver(rows)
    except TimeoutError:
        return  # outcome unknown: the relay delivers again (idempotently)
    for row in out.done + out.enqueued:
        DELIVERED.labels(row.kind, "fast").inc()
    if out.failed is not None:
        FAILED.labels(out.failed.kind).inc()
        error = out.error
        if outages.outage_of(error) is None and not isinstance(error, _NotHere):
            log.warning("outbox.fast_path_failed", error=f"{type(error).__name__}: {error}"[:200])
    with contextlib.suppress(Exception):  # left for the relay, which delivers idempotently
        await _settle(out.done, out.enqueued)


def _retry_delay(attempts: int) -> float:
    return min(RETRY_MAX_SECONDS, 0.25 * 2 ** min(attempts, 10))


async def relay_once(limit: int = RELAY_BATCH) -> int:
    """Deliver one batch of due rows (oldest first); returns how many were delivered."""
    async with db_transaction():
        rows = await fetch(
            "SELECT id, kind, payload, attempts, enqueued_at IS NOT NULL AS enqueued FROM outbox "
            "WHERE next_attempt_at <= now() ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        if not rows:
            return 0
        batch = [
            Row(
                int(r["id"]),
                r["kind"],
                json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"],
                int(r["attempts"]),
                bool(r["enqueued"]),
            )
            for r in rows
        ]
        out = await _deliver(batch)
        await _settle(out.done, out.enqueued)
        for row in out.done + out.enqueued:
            DELIVERED.labels(row.kind, "relay").inc()
        waiting = [r.id for r in out.waiting]
        if out.failed is not None:
            failed, error = out.failed, out.error
            FAILED.labels(failed.kind).inc()
            outage = outages.outage_of(error) is not None
            if not outage and failed.attempts + 1 >= MAX_ATTEMPTS:
                log.error("outbox.dropped", id=failed.id, kind=failed.kind, error=repr(error)[:200])
                DROPPED.labels(failed.kind).inc()
                await fetch("DELETE FROM outbox WHERE id = $1", failed.id)
            else:
                await fetch(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2, "
                    "next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
                    failed.id,
                    f"{type(error).__name__}: {error}"[:500],
                    _retry_delay(failed.attempts),
                )
            if not outage:
                log.warning("outbox.delivery_failed", id=failed.id, kind=failed.kind)
        if waiting:
            # After a failure, order is kept: the rest waits as long as the failed row; jobs
            # still queued or running are looked at again later.
            delay = _retry_delay(out.failed.attempts) if out.failed else JOB_CHECK_SECONDS
            await fetch(
                "UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $2) "
                "WHERE id = ANY($1::bigint[])",
                waiting,
                delay,
            )
    # After the block: Piccolo types its transaction's __aexit__ as `-> bool` (it never
    # swallows an exception), so a return inside it reads to mypy as one that may be skipped.
    return len(out.done) + len(out.enqueued)


async def relay_forever() -> None:
    """The worker's relay loop: never stops; one log line per outage."""
    failing_since: float | None = None
    while True:
        try:
            delivered = await relay_once()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - Postgres down: wait and try again
            if failing_since is None:
                failing_since = time.monotonic()
                log.warning("outbox.relay_failing", error=f"{type(exc).__name__}: {exc}"[:200])
            await asyncio.sleep(RETRY_MAX_SECONDS / 2)
            continue
        if failing_since is not None:
            log.info(
                "outbox.relay_resumed", after_seconds=round(time.monotonic() - failing_since, 2)
            )
            failing_since = None
        if delivered:
            log.info("outbox.relayed", rows=delivered)
        else:
            await asyncio.sleep(RELAY_IDLE_SECONDS)


async def refresh_metrics() -> tuple[int, float]:
    """Set the backlog gauges from Postgres; returns (rows waiting, oldest age in seconds)."""
    row = await fetchrow(
        "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age "
        "FROM outbox"
    )
    assert row is not None
    BACKLOG.set(int(row["n"]))
    OLDEST.set(float(row["age"]))
    return int(row["n"]), float(row["age"])
