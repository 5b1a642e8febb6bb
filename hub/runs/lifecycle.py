"""A run's transitions after its start: claimed by a worker, restarted, and ended.

    queued  -> running             claim: a worker takes the attempt
    running -> queued              restart: its worker went silent (the reaper)
    running -> completed           complete: the worker's success
    queued | running -> failed     fail: the worker's error, or the reaper
    queued | running -> canceled   cancel_now: the buyer asked

Why a module of its own: this is the public API the worker (`hub.runs.executor`), the reaper
(`hub.runs.reaper`) and the cancel endpoint share, so that a run's status, its terminal event
and its ledger transaction always agree. Each terminal transition is one DB transaction: the
run's row locked and checked by one guard (`_lock_for_transition`: the statuses it may leave,
the worker's attempt fence, the silence the reaper observed), the status update, and the
ledger posting, whose `run:<id>:final` ref and one-final-per-run index make a second charge
impossible. The terminal event is stored on the row and published after commit by `announce`
(republished by the reaper if the publisher died in between); every other notice of the
transition is an outbox row of its transaction (see `hub.runs.publishing.notice_terminal`).
Claim and restart are single guarded UPDATEs: they move no money.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgspec
import structlog

from hub import outbox
from hub.billing import run_money
from hub.billing.schemas import Settlement
from hub.platform.db import fetch, fetchrow
from hub.platform.errors import conflict, not_found
from hub.platform.redis import get_redis
from hub.providers.models import ModelSpec, get_model, usage_cents
from hub.runs import jobs, publishing
from hub.runs.publishing import for_channel
from hub.runs.queries import load
from hub.runs.schemas import CancelOut, event

log = structlog.get_logger(__name__)

ACTIVE = ("queued", "running")
TERMINAL = ("completed", "failed", "canceled")
#: Redis pub/sub channel on which a cancel request reaches the worker running the run.
CANCEL_CHANNEL = "hub:runs:cancel"


class Terminal(msgspec.Struct):
    """What a terminal transition committed, for the after-commit publications: `event` as
    the run's channel carries it (stored on the run; no money on a public run's channel)."""

    run: dict[str, Any]
    event: dict[str, Any]
    settlement: Settlement | None = None
    prompt_counts: dict[str, Any] | None = None
    #: Outbox rows of the transition (wallet, sale, counters, live index), delivered by
    #: `announce` after the terminal event.
    notices: list[outbox.Row] = msgspec.field(default_factory=list)


# --- claim and restart ---------------------------------------------------------------------


async def claim(run_id: str, attempt: int, worker_id: str) -> dict[str, Any] | None:
    """A worker takes a queued attempt: it becomes `running` under this worker's fence
    (attempt, worker_id), which every later write of the worker carries. None: the attempt
    is not queued (another worker took it, or it ended)."""
    return await fetchrow(
        "UPDATE runs SET status = 'running', worker_id = $3, heartbeat_at = now(), "
        "started_at = coalesce(started_at, now()), updated_at = now() "
        "WHERE id = $1 AND attempt = $2 AND status = 'queued' RETURNING *",
        uuid.UUID(run_id),
        attempt,
        worker_id,
    )


async def restart(run_id: str, attempt: int, stale_seconds: float) -> bool:
    """The attempt's worker went silent for `stale_seconds`: clear the output, queue the
    next attempt with its job, and tell the channel (`run.restarted`). False when the run
    moved on meanwhile (its worker came back, or another reaper restarted it)."""
    async with outbox.transaction(deliver=False) as job:
        row = await fetchrow(
            "UPDATE runs SET status = 'queued', attempt = attempt + 1, output = '', "
            "output_tokens = 0, delta_seq = 0, worker_id = NULL, heartbeat_at = now(), "
            "updated_at = now() WHERE id = $1 AND status = 'running' AND attempt = $2 "
            "AND heartbeat_at < now() - make_interval(secs => $3) RETURNING attempt",
            uuid.UUID(run_id),
            attempt,
            float(stale_seconds),
        )
        if row is None:
            return False
        new_attempt = int(row["attempt"])
        await jobs.enqueue_retry(run_id, new_attempt)
    restarted = event("run.restarted", run_id=run_id, attempt=new_attempt, reason="worker_lost")
    await publishing.publish_and_record(run_id, new_attempt, restarted)
    await outbox.deliver_now(job)  # after run.restarted, so the new attempt's events follow it
    log.warning("run.restarted", run_id=run_id, attempt=new_attempt)
    return True


# --- terminal transitions ------------------------------------------------------------------


async def _lock_for_transition(
    run_id: str,
    *,
    from_status: tuple[str, ...],
    attempt: int | None = None,
    worker_id: str | None = None,
    only_if_silent_for: float | None = None,
) -> dict[str, Any] | None:
    """The one guard of every terminal transition: the run's row, locked until the
    transaction ends, when it may still leave `from_status`; None otherwise. A worker
    passes its fence (`attempt`, `worker_id`: a worker that lost the run changes nothing);
    the reaper passes the silence it observed, re-checked here under the lock."""
    current = await load(run_id, lock=True)
    if current is None or current["status"] not in from_status:
        return None
    if attempt is not None and (current["attempt"] != attempt or current["worker_id"] != worker_id):
        return None
    if only_if_silent_for is not None and not await _silent(run_id, only_if_silent_for):
        return None
    return current


async def _silent(run_id: str, seconds: float) -> bool:
    row = await fetchrow(
        "SELECT heartbeat_at < now() - make_interval(secs => $2) AS silent FROM runs WHERE id = $1",
        uuid.UUID(run_id),
        float(seconds),
    )
    return bool(row and row["silent"])


async def _finish_row(run_id: str, sets: dict[str, Any]) -> dict[str, Any]:
    """Write the terminal state of a row `_lock_for_transition` locked and let through."""
    args: list[Any] = [uuid.UUID(run_id)]
    assignments = []
    for column, value in sets.items():
        args.append(value)
        assignments.append(f"{column} = ${len(args)}")
    row = await fetchrow(
        f"UPDATE runs SET {', '.join(assignments)}, finished_at = now(), updated_at = now() "
        "WHERE id = $1 RETURNING *",
        *args,
    )
    assert row is not None  # locked by the guard
    return row


def _stream_sets(stream: tuple[int, str] | None) -> dict[str, Any]:
    if stream is None:
        return {}
    return {"stream_offset": stream[0], "stream_epoch": stream[1]}


async def _live_runs_down(row: dict[str, Any], *, completed: bool) -> dict[str, Any] | None:
    """The prompt's counters: one live run fewer (public runs), one run more (completed)."""
    if row["visibility"] != "public" and not completed:
        return None
    return await fetchrow(
        "UPDATE prompts SET live_runs = CASE WHEN $2 THEN GREATEST(live_runs - 1, 0) "
        "ELSE live_runs END, run_count = run_count + CASE WHEN $3 THEN 1 ELSE 0 END "
        "WHERE id = $1 RETURNING live_runs, run_count",
        row["prompt_id"],
        row["visibility"] == "public",
        completed,
    )


async def complete(
    run_id: str,
    *,
    attempt: int,
    worker_id: str,
    output: str,
    output_tokens: int,
    input_tokens: int,
    seq: int,
    spec: ModelSpec,
    stream: tuple[int, str] | None = None,
) -> Terminal | None:
    """The worker's success: settle the hold and end the run `completed`, or do nothing if
    this worker no longer owns the run."""
    async with outbox.transaction(deliver=False) as notices:
        current = await _lock_for_transition(
            run_id, from_status=("running",), attempt=attempt, worker_id=worker_id
        )
        if current is None:
            return None
        cost = min(current["usage_cap_cents"], usage_cents(spec, input_tokens, output_tokens))
        charge = current["price_cents"] + cost
        ev = event(
            "run.completed",
            run_id=run_id,
            usage={
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cost_cents": cost,
            },
            charge_cents=charge,
            seq=seq,
        )
        row = await _finish_row(
            run_id,
            {
                "status": "completed",
                "output": output,
                "output_tokens": output_tokens,
                "delta_seq": seq,
                "usage_input_tokens": input_tokens,
                "usage_output_tokens": output_tokens,
                "usage_cents": cost,
                "charge_cents": charge,
                "refunded_cents": current["hold_cents"] - charge,
                "terminal_event": json.dumps(for_channel(current["visibility"], ev)),
                **_stream_sets(stream),
            },
        )
        settlement = await run_money.settle_run(
            run_id=run_id,
            prompt_id=str(row["prompt_id"]),
            buyer_id=str(row["buyer_id"]),
            creator_id=str(row["creator_id"]),
            hold_cents=row["hold_cents"],
            price_cents=row["price_cents"],
            usage_cents=cost,
        )
        counts = await _live_runs_down(row, completed=True)
        await publishing.notice_terminal(row, ev, settlement, counts)
    return Terminal(
        run=row,
        event=for_channel(row["visibility"], ev),
        settlement=settlement,
        prompt_counts=counts,
        notices=notices,
    )


async def fail(
    run_id: str,
    code: str,
    message: str,
    *,
    attempt: int | None = None,
    worker_id: str | None = None,
    only_if_silent_for: float | None = None,
) -> Terminal | None:
    """End the run `failed` with a full refund (a worker passes its fence; the reaper the
    silence it observed, re-checked under the row lock)."""
    async with outbox.transaction(deliver=False) as notices:
        current = await _lock_for_transition(
            run_id,
            from_status=ACTIVE,
            attempt=attempt,
            worker_id=worker_id,
            only_if_silent_for=only_if_silent_for,
        )
        if current is None:
            return None
        ev = event(
            "run.failed",
            run_id=run_id,
            error={"code": code, "message": message},
            refunded_cents=current["hold_cents"],
        )
        row = await _finish_row(
            run_id,
            {
                "status": "failed",
                "error_code": code,
                "error_message": message,
                "charge_cents": 0,
                "refunded_cents": current["hold_cents"],
                "usage_cents": 0,
                "terminal_event": json.dumps(for_channel(current["visibility"], ev)),
            },
        )
        await run_money.refund_run(
            run_id=run_id,
            buyer_id=str(row["buyer_id"]),
            hold_cents=row["hold_cents"],
            memo=f"Run failed ({code}): full refund",
        )
        counts = await _live_runs_down(row, completed=False)
        await publishing.notice_terminal(row, ev, None, counts)
    return Terminal(
        run=row,
        event=for_channel(row["visibility"], ev),
        prompt_counts=counts,
        notices=notices,
    )


async def cancel_now(
    run_id: str,
    *,
    output: str | None = None,
    output_tokens: int | None = None,
    seq: int | None = None,
    attempt: int | None = None,
    worker_id: str | None = None,
    stream: tuple[int, str] | None = None,
    from_status: tuple[str, ...] = ACTIVE,
    only_if_silent_for: float | None = None,
) -> Terminal | None:
    """End the run `canceled`. Before the first output token it costs nothing (the whole
    hold goes back); once output has begun the buyer has something of value, so the run is
    settled as a completed one: the full price (the creator's sale) plus the usage so far."""
    async with outbox.transaction(deliver=False) as notices:
        current = await _lock_for_transition(
            run_id,
            from_status=from_status,
            attempt=attempt,
            worker_id=worker_id,
            only_if_silent_for=only_if_silent_for,
        )
        if current is None:
            return None
        out_tokens = current["output_tokens"] if output_tokens is None else output_tokens
        began = out_tokens > 0
        cost = price = 0
        if began:
            price = current["price_cents"]
            cost = current["usage_cap_cents"]
            spec = get_model(current["model"])
            if spec is not None:
                cost = min(cost, usage_cents(spec, current["input_tokens"], out_tokens))
        charge = price + cost
        usage = {
            "input_tokens": current["input_tokens"] if began else 0,
            "output_tokens": out_tokens,
            "cost_cents": cost,
        }
        ev = event(
            "run.canceled",
            run_id=run_id,
            usage=usage,
            charge_cents=charge,
            refunded_cents=current["hold_cents"] - charge,
        )
        sets: dict[str, Any] = {
            "status": "canceled",
            "usage_input_tokens": usage["input_tokens"],
            "usage_output_tokens": out_tokens,
            "usage_cents": cost,
            "charge_cents": charge,
            "refunded_cents": current["hold_cents"] - charge,
            "terminal_event": json.dumps(for_channel(current["visibility"], ev)),
            "output_tokens": out_tokens,
        }
        if output is not None:
            sets["output"] = output
        if seq is not None:
            sets["delta_seq"] = seq
        sets.update(_stream_sets(stream))
        row = await _finish_row(run_id, sets)
        settlement = None
        if began:
            settlement = await run_money.settle_run(
                run_id=run_id,
                prompt_id=str(row["prompt_id"]),
                buyer_id=str(row["buyer_id"]),
                creator_id=str(row["creator_id"]),
                hold_cents=row["hold_cents"],
                price_cents=price,
                usage_cents=cost,
                kind="run_cancel",
                memo="Run cancelled after its output began: full price plus usage so far",
            )
        else:
            await run_money.cancel_run(
                run_id=run_id, buyer_id=str(row["buyer_id"]), hold_cents=row["hold_cents"]
            )
        counts = await _live_runs_down(row, completed=False)
        await publishing.notice_terminal(row, ev, settlement, counts)
    return Terminal(
        run=row,
        event=for_channel(row["visibility"], ev),
        settlement=settlement,
        prompt_counts=counts,
        notices=notices,
    )


async def announce(terminal: Terminal) -> None:
    """After commit: the terminal event (once; the reaper retries it if we die first), then
    the transition's notices (outbox rows: the relay delivers them if we die first)."""
    row = terminal.run
    run_id = str(row["id"])
    await publishing.publish_terminal(run_id, terminal.event)
    await outbox.deliver_now(terminal.notices)
    log.info(
        "run.finished",
        run_id=run_id,
        status=row["status"],
        charge_cents=row["charge_cents"],
        refunded_cents=row["refunded_cents"],
        error_code=row["error_code"],
    )


# --- the buyer's cancel --------------------------------------------------------------------


async def request_cancel(run_id: str, user_id: str) -> CancelOut:
    """A queued run ends here and now; a running one is signalled to its worker, which stops
    the provider stream and settles the usage so far (within a second)."""
    row = await load(run_id)
    if row is None or str(row["buyer_id"]) != user_id:
        raise not_found("This run")
    if row["status"] in TERMINAL:
        if row["status"] == "canceled":
            return CancelOut(id=run_id, status="canceled", cancel_requested=True)
        raise conflict(
            f"This run already ended ({row['status']}); there is nothing to cancel.",
            "run-finished",
        )
    if row["status"] == "queued":
        terminal = await cancel_now(run_id, from_status=("queued",))
        if terminal is not None:
            await announce(terminal)
            return CancelOut(id=run_id, status="canceled", cancel_requested=True)
        row = await load(run_id) or row
        if row["status"] in TERMINAL:
            return CancelOut(id=run_id, status=row["status"], cancel_requested=True)
    await fetch(
        "UPDATE runs SET cancel_requested_at = coalesce(cancel_requested_at, now()) "
        "WHERE id = $1 AND status IN ('queued', 'running')",
        row["id"],
    )
    await get_redis().publish(CANCEL_CHANNEL, run_id.encode())
    log.info("run.cancel_requested", run_id=run_id, user_id=user_id)
    return CancelOut(id=run_id, status=row["status"], cancel_requested=True)
