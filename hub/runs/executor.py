"""Executing one attempt of a run in a worker: claim, stream, coalesce, persist, settle.

- **Claim.** `queued -> running` for this attempt and this worker, or nothing: a duplicated
  or stale job does no work and publishes nothing.
- **Stream.** The provider runs in its own task; its tokens go straight into the stream's
  buffer and one flusher task per worker publishes every stream's buffer as a `run.delta`:
  at once when the stream has been quiet (leading edge), else paced to one delta per
  `run_coalesce_ms` on average (a bucket of two), or as soon as `run_coalesce_tokens` are
  buffered. Deltas of all runs due together leave in one Redis call, and tokens arriving
  while it is on its way form the next batch: batching grows with load, not with idle time.
- **Persist.** Every `run_persist_seconds` the output so far, the seq and the channel
  position of the last delta it includes are written together, with the heartbeat. The
  write is fenced by (attempt, worker): a worker that lost the run stops.
- **Cancel.** A Redis pub/sub message (or, as a fallback, the DB flag seen at the next
  persist) cancels the provider task, which closes the HTTP stream; the usage so far is
  settled.
- **Guard.** For Private Mode (and prompts that ask for it) every token passes through the
  run's leak guard (`hub.runs.leak_guard`) before it enters the coalescing buffer, so what is
  published, saved, sampled and exported is the guarded text; the stream's close counts what
  it hid (`hub.runs.incidents`).
- The rendered prompt lives only in the provider request: never logged or published.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import time
import uuid
from typing import Any

import httpx
import structlog

from hub import live
from hub.platform import outages
from hub.platform.db import UnstorableText, fetch, fetchrow, storable
from hub.platform.redis import get_redis
from hub.platform.settings import get_settings
from hub.prompts.templating import render_template
from hub.providers import provider_for
from hub.providers.base import CompletionRequest, ProviderError, TokenDelta, Usage
from hub.providers.models import get_model
from hub.runs import incidents, leak_guard, lifecycle, publishing
from hub.runs.queries import load
from hub.runs.schemas import event

log = structlog.get_logger(__name__)

_END = object()
_CANCEL = object()
_PERSIST = object()

INTERNAL_ERROR = "Something went wrong on our side while running this prompt. You were not charged."


class RunControl:
    """This process's handle on one executing run, for the cancel listener."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.producer: asyncio.Task[None] | None = None
        self.cancel_requested = False

    def cancel(self) -> None:
        if self.cancel_requested:
            return
        self.cancel_requested = True
        if self.producer is not None:
            self.producer.cancel()
        self.queue.put_nowait(_CANCEL)


_controls: dict[str, RunControl] = {}
_listener: asyncio.Task[None] | None = None


async def _listen_for_cancels() -> None:
    """One pub/sub subscription per worker process for every run's cancel signal.

    Reads with a timeout (an idle subscription is not an error) and resubscribes after a
    Redis outage; a cancel sent meanwhile is still seen through the DB flag at the next persist.
    """
    failing = False
    while True:
        pubsub = None
        try:
            pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(lifecycle.CANCEL_CHANNEL)
            if failing:
                log.info("run.cancel_listener_resumed")
                failing = False
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None or message.get("type") != "message":
                    continue
                run_id = message["data"].decode() if isinstance(message["data"], bytes) else ""
                control = _controls.get(run_id)
                if control is not None:
                    log.info("run.cancel_received", run_id=run_id)
                    control.cancel()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep listening; the DB flag covers the gap
            if not failing:
                log.warning("run.cancel_listener_error", error=f"{type(exc).__name__}: {exc}"[:200])
                failing = True
            await asyncio.sleep(1.0)
        finally:
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def ensure_cancel_listener() -> None:
    global _listener
    loop = asyncio.get_running_loop()
    if _listener is None or _listener.done() or _listener.get_loop() is not loop:
        _listener = loop.create_task(_listen_for_cancels())


async def shutdown() -> None:
    """Stop this process's cancel listener, delta flusher and persister (worker shutdown).
    Runs still executing are left to the reaper, which restarts them elsewhere."""
    global _listener
    loop = asyncio.get_running_loop()
    for task in (_listener, _flusher.task, _persister.task):
        if task is not None and not task.done() and task.get_loop() is loop:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    _listener = None
    _flusher.task = None
    _persister.task = None
    for future in _persister.waiting.values():  # nobody will write them now
        future.cancel()
    _persister.waiting = {}


async def _produce(
    provider: Any, request: CompletionRequest, stream: _Stream, queue: asyncio.Queue[Any]
) -> None:
    """Tokens go straight into the stream's buffer (the flusher publishes them); usage, the
    end and errors go to the run's consumer."""
    try:
        async for item in provider.stream(request):
            if isinstance(item, TokenDelta):
                stream.add(item)
            else:
                queue.put_nowait(item)
        queue.put_nowait(_END)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - handed to the consumer, which decides
        queue.put_nowait(exc)


RETRY_FIRST = 0.1
RETRY_MAX = 2.0
#: Deltas a quiet stream may send at once before pacing to one per coalescing window.
BURST = 2.0


class _Stream:
    """One attempt's stream: the coalescing buffer, the publications waiting for Redis, the
    text Redis confirmed, and the persisted state.

    A publication (`run.started`, then the `run.delta`s) is *pending* from the moment it has
    its `seq` until Redis confirms it; pending ones are published in order and retried, the
    same data with the same `seq`, until they land, or the stream is *stalled* (Redis did not
    take them for `HUB_RUN_PUBLISH_STALL_SECONDS`) and the run fails. Only confirmed text
    enters `output`, so the saved output is exactly the deltas subscribers can see.
    """

    def __init__(
        self,
        row: dict[str, Any],
        worker_id: str,
        first: dict[str, Any],
        wake: asyncio.Queue[Any] | None = None,
    ):
        settings = get_settings()
        self.run_id = str(row["id"])
        self.attempt = int(row["attempt"])
        self.worker_id = worker_id
        self.coalesce = settings.run_coalesce_ms / 1000
        self.coalesce_tokens = settings.run_coalesce_tokens
        self.persist_every = settings.run_persist_seconds
        self.stall_after = settings.run_publish_stall_seconds
        self.parts: list[str] = []
        self.tokens = 0
        self.seq = 0  # the last seq given to a delta
        self.confirmed_seq = 0  # the last seq Redis confirmed
        self.buffer: list[str] = []
        self.buffer_tokens = 0
        self.flush_at = 0.0
        self.first_at = 0.0
        # Pacing: deltas may leave at once while `allowance` >= 1; it refills by one per
        # coalescing window, up to BURST, and each delta takes one.
        self.allowance = BURST
        self.allowance_at = time.monotonic()
        self.position: tuple[int, str] | None = None
        self.guard: leak_guard.LeakGuard | None = None
        self.incidents_recorded = False
        # (text or None, data) in publication order, from "has a seq" to "confirmed"
        self.pending: list[tuple[str | None, dict[str, Any]]] = [(None, first)]
        self.pending_since: float | None = time.monotonic()
        self.inflight = False
        self.retry_at = 0.0
        self.backoff = RETRY_FIRST
        self.final = False  # closing: publish everything now
        self.drop = False  # closing without flush: drop what is not on its way
        self.stalled = False
        self.done = asyncio.Event()
        self.wake = wake  # the run's queue: told when the channel's epoch changed

    @property
    def output(self) -> str:
        return "".join(self.parts)

    def add(self, delta: TokenDelta) -> None:
        self.tokens += delta.tokens
        if self.guard is None:
            self._buffer(delta.text, delta.tokens, time.time())
        else:
            text = self.guard.feed(delta.text, time.time())
            self._buffer(text, delta.tokens, self.guard.released_at)

    def _buffer(self, text: str, tokens: int, emitted_at: float) -> None:
        """Queue released text for the next delta: due at once when the stream has been quiet
        (its allowance holds a delta), else when the allowance refills; text joining a
        waiting buffer leaves with it (or at once, once `run_coalesce_tokens` are waiting)."""
        if not text or self.drop:
            return
        buffer = self.buffer
        if not buffer:
            now = time.monotonic()
            allowance = self._allowance(now)
            self.flush_at = now if allowance >= 1.0 else now + (1.0 - allowance) * self.coalesce
            self.first_at = emitted_at
            buffer.append(text)
            self.buffer_tokens = tokens
            _flusher.ready(self)
            return
        buffer.append(text)
        self.buffer_tokens += tokens
        if self.buffer_tokens >= self.coalesce_tokens:
            self.flush_at = 0.0
            _flusher.ready(self)

    def _allowance(self, now: float) -> float:
        if self.coalesce <= 0:
            return BURST
        return min(BURST, self.allowance + (now - self.allowance_at) / self.coalesce)

    def next_at(self) -> float | None:
        """When this stream has something to publish (now or later), or None: nothing."""
        if self.inflight or self.done.is_set():
            return None
        if self.pending:
            return self.retry_at
        if not self.buffer:
            return None
        return 0.0 if self.final else self.flush_at

    def take(self) -> list[dict[str, Any]]:
        """What to publish now, in order: the pending publications, or the buffer as the next
        delta. The flusher reports back with `landed` or `not_landed`."""
        if not self.pending:
            now = time.monotonic()
            self.allowance = self._allowance(now) - 1.0
            self.allowance_at = now
            self.pending.append(self.prepare())
            self.pending_since = now
        self.inflight = True
        return [data for _, data in self.pending]

    def prepare(self) -> tuple[str, dict[str, Any]]:
        """Take the buffer as the next delta, with the next seq."""
        text = "".join(self.buffer)
        self.buffer.clear()
        self.buffer_tokens = 0
        self.seq += 1
        return text, event(
            "run.delta",
            run_id=self.run_id,
            seq=self.seq,
            text=text,
            attempt=self.attempt,
            emitted_at=round(self.first_at, 4),  # when the provider gave its first token
            published_at=round(time.time(), 4),
        )

    def landed(self, results: list[Any]) -> None:
        # Output and position change together, with no await in between: a persist that
        # runs while a delta is in flight saves the previous (consistent) pair.
        # `results` may cover only the first pending deltas (the rest failed: see the
        # flusher); those stay pending and are sent again.
        new_epoch = False
        n = len(results)
        for (text, data), result in zip(self.pending[:n], results, strict=True):
            if text is not None:
                self.parts.append(text)
                self.confirmed_seq = int(data["seq"])
            pos = publishing.position(result)
            if pos is not None:
                new_epoch = new_epoch or (self.position is not None and pos[1] != self.position[1])
                self.position = pos
        del self.pending[:n]
        self.pending_since = None
        self.inflight = False
        self.backoff = RETRY_FIRST
        if self.buffer:  # text that arrived while this batch was on its way
            _flusher.ready(self)
        if new_epoch and self.wake is not None:
            # Redis lost the channel's history: save the new position at once, so that
            # clients reloading GET /runs/{id} resume from the new epoch.
            self.wake.put_nowait(_PERSIST)
        self._settle()

    def not_landed(self, now: float, *, uncertain: bool) -> None:
        """The publish failed (Redis unreachable: retry the same data later) or its outcome
        is unknown after the stall bound (`uncertain`: the stream stalls, the run fails)."""
        self.inflight = False
        since = self.pending_since if self.pending_since is not None else now
        if uncertain or now - since >= self.stall_after:
            self.stalled = True
            self.done.set()
            return
        self.retry_at = now + self.backoff
        self.backoff = min(self.backoff * 2, RETRY_MAX)
        _flusher.ready(self)
        self._settle()

    def _settle(self) -> None:
        if self.drop and not self.inflight:
            self.pending.clear()
            self.buffer.clear()
            self.done.set()
        elif self.final and not self.buffer and not self.pending:
            self.done.set()

    async def close(self, *, flush: bool) -> str:
        """No delta after this: `flush` publishes what is buffered (waiting for Redis if it
        must, with heartbeats meanwhile), otherwise it is dropped (a publish already on its
        way is waited for, so no delta can follow the terminal event). Returns 'drained',
        'stalled' (Redis did not take the deltas in time) or 'lost' (the run is no longer ours).
        """
        if not self.done.is_set():
            if flush:
                if self.guard is not None:
                    self._buffer(self.guard.flush(), 0, self.guard.released_at)
                self.final = True
            else:
                self.drop = True
            self._settle()
            _flusher.ready(self)
            while not self.done.is_set():
                try:
                    async with asyncio.timeout(self.persist_every):
                        await self.done.wait()
                except TimeoutError:
                    if await self.persist_quietly() is None:
                        self.drop = True
                        self._settle()
                        _flusher.remove(self)
                        return "lost"
        _flusher.remove(self)
        if self.guard is not None and not self.incidents_recorded:
            self.incidents_recorded = True
            await incidents.record(self.run_id, self.attempt, self.guard)
        return "stalled" if self.stalled else "drained"

    async def persist(self) -> dict[str, Any] | None:
        """Output, seq, position and heartbeat in one fenced write (batched with the other
        streams of this worker saving now); None = we lost the run."""
        return await _persister.save(self)

    def snapshot(self) -> tuple[Any, ...]:
        """What `persist` writes, read at once: output and position change together with no
        await in between, so a snapshot taken while a delta is in flight is the previous
        (consistent) pair."""
        return (
            uuid.UUID(self.run_id),
            self.attempt,
            self.worker_id,
            self.output,
            self.tokens,
            self.confirmed_seq,
            self.position[0] if self.position else None,
            self.position[1] if self.position else None,
        )

    async def persist_quietly(self) -> dict[str, Any] | None:
        """`persist`, riding out a Postgres blip: {} when the write could not be made now."""
        try:
            return await self.persist()
        except Exception as exc:  # noqa: BLE001
            if outages.outage_of(exc) is None:
                raise
            log.warning("run.persist_failed", run_id=self.run_id, error=type(exc).__name__)
            return {}


class _Persister:
    """Saves the streams of this worker in batches: the runs that ask within `WINDOW` share
    one fenced UPDATE (a run saves every `HUB_RUN_PERSIST_SECONDS`, so 500 streaming runs
    made 500 statements a second, each a round trip and a commit; now ~20). Each run gets
    its own answer: its `cancel_requested_at`, or None when the fence refused it (the run is
    no longer this worker's). A batch that fails fails each of its runs' saves alike."""

    WINDOW = 0.05
    SQL = (
        "UPDATE runs AS r SET output = u.output, output_tokens = u.tokens, delta_seq = u.seq, "
        "stream_offset = coalesce(u.stream_offset, r.stream_offset), "
        "stream_epoch = coalesce(u.stream_epoch, r.stream_epoch), "
        "heartbeat_at = now(), updated_at = now() "
        "FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::int[], $6::int[], "
        "$7::bigint[], $8::text[]) "
        "AS u(id, attempt, worker_id, output, tokens, seq, stream_offset, stream_epoch) "
        "WHERE r.id = u.id AND r.attempt = u.attempt AND r.worker_id = u.worker_id "
        "AND r.status = 'running' RETURNING r.id, r.attempt, r.cancel_requested_at"
    )

    def __init__(self) -> None:
        self.waiting: dict[_Stream, asyncio.Future[dict[str, Any] | None]] = {}
        self.task: asyncio.Task[None] | None = None

    async def save(self, stream: _Stream) -> dict[str, Any] | None:
        loop = asyncio.get_running_loop()
        future = self.waiting.get(stream)
        if future is None:
            future = self.waiting[stream] = loop.create_future()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            # A context of its own: the batch must never run inside a caller's transaction.
            self.task = loop.create_task(self._run(), context=contextvars.Context())
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while self.waiting:
            await asyncio.sleep(self.WINDOW)
            batch, self.waiting = self.waiting, {}
            await self._write(batch)

    async def _write(self, batch: dict[_Stream, asyncio.Future[dict[str, Any] | None]]) -> None:
        rows = []
        futures = []
        for stream, future in batch.items():
            row = stream.snapshot()
            if not storable(row[3]):
                future.set_exception(UnstorableText("the output cannot be stored"))
                continue
            rows.append(row)
            futures.append(future)
        if not rows:
            return
        try:
            saved = await fetch(self.SQL, *(list(column) for column in zip(*rows, strict=True)))
        except Exception as exc:  # noqa: BLE001 - every run of the batch sees it
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        found = {(r["id"], r["attempt"]): r for r in saved}
        for row, future in zip(rows, futures, strict=True):
            if not future.done():
                hit = found.get((row[0], row[1]))
                future.set_result(
                    {"cancel_requested_at": hit["cancel_requested_at"]} if hit else None
                )


_persister = _Persister()


class _Flusher:
    """One task per worker process publishes the deltas of every streaming run, so a token
    costs a list append, not a wake-up of its run's task.

    Streams with something to publish are *ready* (they register themselves when their
    buffer fills, a retry is due or they close); the task sleeps until the earliest of them
    is due, publishes everything due in one Redis call, and goes again at once if more
    became due meanwhile. Deltas that Redis did not take are retried (same seq, same text)
    with a backoff; one log line per outage, not per delta."""

    #: The longest the task sleeps with streams ready (a safety net: every state change
    #: that makes a stream due registers it).
    MAX_SLEEP = 0.25

    def __init__(self) -> None:
        self.streams: set[_Stream] = set()
        self.pending: set[_Stream] = set()  # ready: something to publish now or later
        self.task: asyncio.Task[None] | None = None
        self.event: asyncio.Event | None = None
        self.wake_at = float("inf")  # when the task wakes up by itself
        self.failing_since: float | None = None

    def add(self, stream: _Stream) -> None:
        self.streams.add(stream)
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.event = asyncio.Event()
            self.wake_at = float("inf")
            self.task = loop.create_task(self._run())
        self.ready(stream)

    def remove(self, stream: _Stream) -> None:
        self.streams.discard(stream)
        self.pending.discard(stream)

    def ready(self, stream: _Stream) -> None:
        """`stream` has something to publish (at its `next_at`): wake the task if it would
        otherwise sleep past that."""
        if stream not in self.streams:
            return
        self.pending.add(stream)
        at = stream.next_at()
        if at is not None and at < self.wake_at and self.event is not None:
            self.wake_at = at
            self.event.set()

    def wake(self) -> None:
        if self.event is not None:
            self.event.set()

    async def _run(self) -> None:
        event = self.event
        assert event is not None
        while True:
            if not event.is_set():
                sleep = min(self.wake_at, time.monotonic() + self.MAX_SLEEP) - time.monotonic()
                if sleep > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(sleep):
                            await event.wait()
            event.clear()
            self.wake_at = float("inf")
            try:
                await self._publish_due()
            except Exception:  # noqa: BLE001 - never let the flusher die
                log.error("run.flush_failed", exc_info=True)

    async def _publish_due(self) -> None:
        now = time.monotonic()
        batch: list[_Stream] = []
        later = float("inf")
        for stream in list(self.pending):
            at = stream.next_at()
            if at is None:
                if not stream.inflight:  # nothing left to publish
                    self.pending.discard(stream)
            elif at <= now:
                batch.append(stream)
            elif at < later:
                later = at
        if later < self.wake_at:
            self.wake_at = later
        if not batch:
            return
        spans: list[tuple[_Stream, int]] = []
        items: list[tuple[str, dict[str, Any]]] = []
        for stream in batch:
            datas = stream.take()
            spans.append((stream, len(datas)))
            channel = publishing.channel(stream.run_id)
            items += [(channel, data) for data in datas]
        stall = get_settings().run_publish_stall_seconds
        try:
            async with asyncio.timeout(stall):
                results = await live.publish_stream(items)
        except TimeoutError:
            log.error("run.publish_stalled", runs=len(batch), seconds=stall)
            for stream, _ in spans:
                stream.not_landed(time.monotonic(), uncertain=True)
            return
        except Exception as exc:  # noqa: BLE001 - Redis unreachable: retried
            if self.failing_since is None:
                self.failing_since = time.monotonic()
                log.warning("run.publish_failing", error=f"{type(exc).__name__}: {exc}"[:200])
            # On a Redis Cluster some shards may have taken their deltas (PartialPublishError
            # says which): those landed and must not be sent twice; the rest are retried.
            partial = getattr(exc, "results", None)
            at = 0
            for stream, count in spans:
                got = partial[at : at + count] if partial is not None else []
                at += count
                ok = 0
                while ok < len(got) and not isinstance(got[ok], BaseException):
                    ok += 1
                if ok:
                    stream.landed(got[:ok])
                if ok < count:
                    stream.not_landed(time.monotonic(), uncertain=False)
            return
        if self.failing_since is not None:
            log.warning(
                "run.publish_resumed", after_seconds=round(time.monotonic() - self.failing_since, 2)
            )
            self.failing_since = None
        at = 0
        for stream, count in spans:
            stream.landed(results[at : at + count])
            at += count


_flusher = _Flusher()


async def execute(run_id: str, attempt: int, *, worker_id: str, http: httpx.AsyncClient) -> str:
    """Run one attempt; returns what happened: completed|failed|canceled|skipped|lost."""
    row = await lifecycle.claim(run_id, attempt, worker_id)
    if row is None:
        await _republish_terminal(run_id)
        return "skipped"
    ensure_cancel_listener()
    control = RunControl()
    _controls[run_id] = control
    try:
        return await _run(row, worker_id, http, control)
    finally:
        _controls.pop(run_id, None)
        if control.producer is not None and not control.producer.done():
            control.producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await control.producer


async def _republish_terminal(run_id: str) -> None:
    """A duplicated job of a run that ended: make sure its terminal event went out."""
    row = await load(run_id)
    if row is not None:
        await publishing.publish_unpublished_terminal(row)


STREAM_STALLED = (
    "The live stream of this run could not be delivered for too long (a service it relies on "
    "was unavailable). You were not charged."
)


async def _run(
    row: dict[str, Any], worker_id: str, http: httpx.AsyncClient, control: RunControl
) -> str:
    run_id = str(row["id"])
    attempt = int(row["attempt"])
    log.info("run.started", run_id=run_id, attempt=attempt, worker_id=worker_id)
    if row["cancel_requested_at"] is not None:
        return await _finish_cancel(run_id, attempt, worker_id, None)
    # run.started is the stream's first publication: the deltas follow it, in order.
    first = event("run.started", run_id=run_id, attempt=attempt)
    stream = _Stream(row, worker_id, first, control.queue)
    _flusher.add(stream)
    if await stream.persist() is None:
        await stream.close(flush=False)
        return "lost"
    spec = get_model(row["model"])
    if spec is None:
        return await _end_failed(
            stream,
            "model_unavailable",
            f"The model '{row['model']}' is no longer available on this hub. You were not charged.",
        )
    try:
        prompt, stream.guard = await _render(row)
        request = CompletionRequest(
            prompt=prompt, max_tokens=row["max_tokens"], model=spec, run_id=run_id
        )
    except Exception:  # noqa: BLE001 - never echo the template in the error
        log.error("run.render_failed", run_id=run_id)
        return await _end_failed(stream, "internal_error", INTERNAL_ERROR)
    control.producer = asyncio.create_task(
        _produce(provider_for(spec, http), request, stream, control.queue)
    )
    del request
    usage: Usage | None = None
    next_persist = time.monotonic() + stream.persist_every
    last_saved = time.monotonic()
    give_up_after = get_settings().run_stale_seconds / 2
    try:
        while True:
            item: Any = None
            try:
                async with asyncio.timeout(max(0.0, next_persist - time.monotonic())):
                    item = await control.queue.get()
            except TimeoutError:
                pass
            if isinstance(item, Usage):
                usage = item
            elif item is _END:
                status = await stream.close(flush=True)
                if status != "drained":
                    return await _stream_ended_badly(stream, status)
                break
            elif item is _CANCEL:
                status = await stream.close(flush=True)
                if status != "drained":
                    return await _stream_ended_badly(stream, status)
                return await _finish_cancel(run_id, attempt, worker_id, stream)
            elif isinstance(item, ProviderError):
                return await _end_failed(
                    stream, item.code, item.message + " You were not charged.", flush=False
                )
            elif isinstance(item, BaseException):
                log.error("run.provider_crashed", run_id=run_id, error_type=type(item).__name__)
                return await _end_failed(stream, "internal_error", INTERNAL_ERROR, flush=False)
            if stream.stalled:
                return await _stream_ended_badly(stream, "stalled")
            if item is _PERSIST or time.monotonic() >= next_persist:
                next_persist = time.monotonic() + stream.persist_every
                state = await stream.persist_quietly()
                if state is None:
                    await stream.close(flush=False)
                    log.warning("run.lost", run_id=run_id, attempt=attempt)
                    return "lost"
                if state:
                    last_saved = time.monotonic()
                    if state["cancel_requested_at"] is not None:
                        control.cancel()
                elif time.monotonic() - last_saved > give_up_after:
                    # Postgres has been gone for a while: the reaper restarts or fails the
                    # run once it is back (one terminal state, as after a worker crash).
                    await stream.close(flush=False)
                    log.warning("run.abandoned", run_id=run_id, attempt=attempt)
                    return "lost"
    except asyncio.CancelledError:
        # The job itself is being cancelled (shutdown, abort): leave the run to the reaper.
        _flusher.remove(stream)
        raise
    except Exception:  # noqa: BLE001
        log.exception("run.executor_error", run_id=run_id)
        return await _end_failed(stream, "internal_error", INTERNAL_ERROR, flush=False)
    if usage is None:
        return await _end_failed(
            stream,
            "provider_bad_response",
            "The AI provider did not report usage. You were not charged.",
        )
    terminal = await _settle_tolerantly(
        stream,
        lambda: lifecycle.complete(
            run_id,
            attempt=attempt,
            worker_id=worker_id,
            output=stream.output,
            output_tokens=usage.output_tokens,
            input_tokens=usage.input_tokens,
            seq=stream.confirmed_seq,
            spec=spec,
            stream=stream.position,
        ),
    )
    if terminal is None:
        return "lost"
    await lifecycle.announce(terminal)
    return "completed"


async def _settle_tolerantly(stream: _Stream, settle: Any) -> Any:
    """Run a fenced terminal transition, retrying it through a short Postgres outage (it is
    fenced, so a retry after a lost reply finds the run settled and does nothing)."""
    deadline = time.monotonic() + get_settings().run_stale_seconds / 2
    delay = 0.2
    while True:
        try:
            return await settle()
        except Exception as exc:
            if outages.outage_of(exc) != "postgres" or time.monotonic() > deadline:
                raise
            log.warning("run.settle_retry", run_id=stream.run_id, error=type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def _end_failed(stream: _Stream, code: str, message: str, *, flush: bool = True) -> str:
    """Close the stream (publishing what the provider already gave when `flush`), save the
    output exactly as subscribers saw it, then fail the run with a full refund."""
    status = await stream.close(flush=flush)
    if status == "lost":
        return "lost"
    if status == "stalled":
        code, message = "stream_unavailable", STREAM_STALLED
    if await stream.persist_quietly() is None:
        return "lost"
    return await _finish_fail(stream.run_id, stream.attempt, stream.worker_id, code, message)


async def _stream_ended_badly(stream: _Stream, status: str) -> str:
    """The stream stalled (or the run was lost while closing it): fail it, or let go."""
    if status == "lost":
        return "lost"
    log.error("run.stream_stalled", run_id=stream.run_id, attempt=stream.attempt)
    return await _end_failed(stream, "stream_unavailable", STREAM_STALLED, flush=False)


async def _render(row: dict[str, Any]) -> tuple[str, leak_guard.LeakGuard | None]:
    """The rendered prompt, and the run's leak guard when its prompt is in Private Mode or
    its creator asked for the guard."""
    version = await fetchrow(
        "SELECT v.template, p.private_mode OR p.leak_guard AS guarded FROM prompt_versions v "
        "JOIN prompts p ON p.id = v.prompt_id WHERE v.id = $1",
        row["prompt_version_id"],
    )
    if version is None:
        raise LookupError("prompt version missing")
    inputs = row["inputs"]
    if isinstance(inputs, str):
        inputs = json.loads(inputs)
    guard = None
    if version["guarded"]:
        # Indexing a long template the first time (~25 ms for 20,000 characters) runs in a
        # thread so that the other runs streaming in this worker do not stall meanwhile.
        words = get_settings().leak_guard_words
        guard = await asyncio.to_thread(leak_guard.guard_for, version["template"], inputs, words)
    return render_template(version["template"], inputs), guard


async def _finish_fail(run_id: str, attempt: int, worker_id: str, code: str, message: str) -> str:
    terminal = await lifecycle.fail(run_id, code, message, attempt=attempt, worker_id=worker_id)
    if terminal is None:
        return "lost"
    await lifecycle.announce(terminal)
    return "failed"


async def _finish_cancel(run_id: str, attempt: int, worker_id: str, stream: _Stream | None) -> str:
    terminal = await lifecycle.cancel_now(
        run_id,
        output=stream.output if stream else None,
        output_tokens=stream.tokens if stream else None,
        seq=stream.confirmed_seq if stream else None,
        attempt=attempt,
        worker_id=worker_id,
        stream=stream.position if stream else None,
    )
    if terminal is None:
        return "lost"
    await lifecycle.announce(terminal)
    return "canceled"
