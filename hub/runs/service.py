"""Runs rules: estimate, start (hold + idempotency), read, cancel, list; the terminal
transitions shared by the worker, the cancel endpoint and the reaper.

A run's status, its terminal event and its ledger transaction always agree because each
terminal transition is one DB transaction: a guarded status update (`WHERE status IN
('queued','running')`, plus the attempt fence for workers) and the ledger posting, whose
`run:<id>:final` ref and one-final-per-run index make a second charge impossible.
The terminal event is stored on the row and published after commit (republished by the
reaper if the publisher died in between); every other notice of a transition (wallet, sale,
earnings, counters, the live index, the run's job) is an outbox row of its transaction
(hub.outbox), delivered right after it and by the worker's relay otherwise.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import structlog
from arq.connections import ArqRedis

from hub import live, outbox
from hub.billing import ledger
from hub.billing import service as billing
from hub.platform.db import fetch, fetchrow
from hub.platform.errors import Problem, bad_request, conflict, not_found, validation_error
from hub.platform.pagination import decode_cursor, page
from hub.platform.redis import get_redis
from hub.platform.settings import get_settings
from hub.prompts.service import MissingVariables, PromptForRun, get_prompt_for_run, render_template
from hub.providers.models import ModelSpec, count_tokens, get_model, usage_cents
from hub.runs.schemas import (
    CancelOut,
    Estimate,
    RunError,
    RunOut,
    RunPage,
    RunRequest,
    RunUsage,
    StreamPosition,
    event,
)
from hub.subscriptions import coverage as subscription_coverage

log = structlog.get_logger(__name__)

TERMINAL = ("completed", "failed", "canceled")
CANCEL_CHANNEL = "hub:runs:cancel"
JOB_FUNCTION = "execute_run"

_arq: ArqRedis | None = None


def channel(run_id: str | uuid.UUID) -> str:
    return f"runs:{run_id}"


def job_id(run_id: str | uuid.UUID, attempt: int) -> str:
    """The arq job id of an attempt: enqueuing it twice creates one job."""
    return f"run:{run_id}:{attempt}"


def _uid(value: str | uuid.UUID) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def arq_pool() -> ArqRedis:
    """arq's enqueue API over the process's shared Redis connection pool."""
    global _arq
    pool = get_redis().connection_pool
    if _arq is None or _arq.connection_pool is not pool:
        _arq = ArqRedis(pool)
    return _arq


async def enqueue(run_id: str, attempt: int, queue_name: str | None = None) -> None:
    await arq_pool().enqueue_job(
        JOB_FUNCTION, str(run_id), attempt, _job_id=job_id(run_id, attempt), _queue_name=queue_name
    )


# --- pricing -----------------------------------------------------------------------------


def _model_or_409(name: str) -> ModelSpec:
    spec = get_model(name)
    if spec is None:
        raise conflict(
            f"This prompt's model '{name}' is not available on this hub right now.",
            "model-unavailable",
        )
    return spec


def _max_tokens(spec: ModelSpec, requested: int | None) -> int:
    value = requested or min(spec.default_max_tokens, get_settings().run_default_max_tokens)
    if value > spec.max_output_tokens:
        raise validation_error(
            "max_tokens", f"max_tokens can be at most {spec.max_output_tokens} for this model."
        )
    return value


def _price_for(prompt: PromptForRun, buyer_id: str | None) -> int:
    """Creators run their own prompts for the usage only."""
    return 0 if buyer_id == prompt.owner_id else prompt.price_cents


async def estimate(prompt_id: str, max_tokens: int | None, viewer_id: str | None) -> Estimate:
    prompt = await get_prompt_for_run(prompt_id)
    if prompt is None or (prompt.status != "active" and viewer_id != prompt.owner_id):
        raise not_found("This prompt")
    spec = _model_or_409(prompt.model)
    tokens = _max_tokens(spec, max_tokens)
    input_tokens = count_tokens(prompt.template)
    cap = usage_cents(spec, input_tokens, tokens)
    price = _price_for(prompt, viewer_id)
    covered = False
    if viewer_id and price > 0 and await subscription_coverage.covering(viewer_id, prompt.owner_id):
        price, covered = 0, True
    balance = None
    if viewer_id:
        balance = (await billing.wallet(viewer_id)).balance_cents
    return Estimate(
        prompt_id=prompt.id,
        model=spec.name,
        max_tokens=tokens,
        input_tokens=input_tokens,
        price_cents=price,
        usage_cap_cents=cap,
        hold_cents=price + cap,
        balance_cents=balance,
        covered_by_subscription=covered,
    )


# --- reading -----------------------------------------------------------------------------


def run_out(row: dict[str, Any], viewer_id: str | None) -> RunOut:
    owner = viewer_id is not None and str(row["buyer_id"]) == viewer_id
    usage = None
    if row["usage_cents"] is not None:
        usage = RunUsage(
            input_tokens=row["usage_input_tokens"] or 0,
            output_tokens=row["usage_output_tokens"] or 0,
            cost_cents=row["usage_cents"] if owner else None,
        )
    error = None
    if row["error_code"]:
        error = RunError(code=row["error_code"], message=row["error_message"] or "")
    stream = None
    if row["stream_offset"] is not None and row["stream_epoch"] is not None:
        stream = StreamPosition(offset=int(row["stream_offset"]), epoch=row["stream_epoch"])
    return RunOut(
        id=str(row["id"]),
        prompt_id=str(row["prompt_id"]),
        prompt_version=row["prompt_version"],
        status=row["status"],
        visibility=row["visibility"],
        model=row["model"],
        max_tokens=row["max_tokens"],
        channel=channel(row["id"]),
        output=row["output"],
        attempt=row["attempt"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        price_cents=row["price_cents"] if owner else None,
        usage_cap_cents=row["usage_cap_cents"] if owner else None,
        hold_cents=row["hold_cents"] if owner else None,
        charge_cents=row["charge_cents"] if owner else None,
        refunded_cents=row["refunded_cents"] if owner else None,
        usage=usage,
        error=error,
        stream=stream,
        prompt_title=row.get("prompt_title"),
        cancel_requested=row["cancel_requested_at"] is not None,
    )


async def load(run_id: str | uuid.UUID, *, lock: bool = False) -> dict[str, Any] | None:
    rid = _uid(run_id)
    if rid is None:
        return None
    return await fetchrow("SELECT * FROM runs WHERE id = $1" + (" FOR UPDATE" if lock else ""), rid)


async def can_watch_run(user_id: str | None, run_id: str) -> bool:
    """The realtime policy for `runs:<id>`: the buyer, or anyone when the run is public."""
    rid = _uid(run_id)
    if rid is None:
        return False
    row = await fetchrow("SELECT buyer_id, visibility FROM runs WHERE id = $1", rid)
    if row is None:
        return False
    return row["visibility"] == "public" or (
        user_id is not None and str(row["buyer_id"]) == user_id
    )


async def get_run(run_id: str, viewer_id: str | None) -> RunOut:
    row = await load(run_id)
    if row is None or not (
        row["visibility"] == "public" or str(row["buyer_id"]) == (viewer_id or "")
    ):
        raise not_found("This run")
    return run_out(row, viewer_id)


async def my_runs(user_id: str, limit: int, after: str | None) -> RunPage:
    return await _list_runs("r.buyer_id = $3", [uuid.UUID(user_id)], limit, after, user_id)


async def live_runs(limit: int, after: str | None, viewer_id: str | None) -> RunPage:
    where = "r.status IN ('queued', 'running') AND r.visibility = 'public'"
    return await _list_runs(where, [], limit, after, viewer_id)


async def _list_runs(
    where: str, params: list[Any], limit: int, after: str | None, viewer_id: str | None
) -> RunPage:
    """A page of runs newest first; `where` uses $3.. for `params` ($1, $2 are the cursor)."""
    key, run_id = decode_cursor(after, "runs", datetime) if after else (None, None)
    rows = await fetch(
        "SELECT r.*, p.title AS prompt_title FROM runs r JOIN prompts p ON p.id = r.prompt_id "
        f"WHERE {where} AND ($1::timestamptz IS NULL OR (r.created_at, r.id) < ($1, $2)) "
        f"ORDER BY r.created_at DESC, r.id DESC LIMIT {int(limit) + 1}",
        key,
        run_id,
        *params,
    )
    items, next_cursor = page(rows, limit, "runs", lambda r: r["created_at"])
    return RunPage(items=[run_out(r, viewer_id) for r in items], next_cursor=next_cursor)


# --- starting a run ----------------------------------------------------------------------


def request_hash(prompt_id: str, body: RunRequest) -> str:
    fields: dict[str, Any] = {
        "prompt_id": prompt_id.lower(),
        "inputs": body.inputs,
        "visibility": body.visibility,
        "max_tokens": body.max_tokens,
    }
    if body.expected_price_cents is not None:  # absent: the hashes of older runs still match
        fields["expected_price_cents"] = body.expected_price_cents
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_key(key: str | None) -> str:
    key = (key or "").strip()
    if not key:
        raise bad_request(
            "The Idempotency-Key header is required: send a new unique value (e.g. a UUID) "
            "for each run, and the same value again to retry safely.",
            "Idempotency-Key",
        )
    if len(key) > 200:
        raise bad_request("Idempotency-Key can be at most 200 characters.", "Idempotency-Key")
    return key


async def _existing(buyer_id: str, key: str, digest: str) -> dict[str, Any] | None:
    row = await fetchrow(
        "SELECT * FROM runs WHERE buyer_id = $1 AND idempotency_key = $2", uuid.UUID(buyer_id), key
    )
    if row is not None and row["request_hash"].strip() != digest:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "This Idempotency-Key was already used for a different request. Send a new key "
            "for a new run; resend the same key only with the same body.",
            invalid_params=[{"name": "Idempotency-Key", "reason": "used with another body"}],
        )
    return row


def _storable_text(value: str) -> bool:
    """PostgreSQL text and jsonb hold neither NUL nor unpaired UTF-16 surrogates."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _validate_inputs(prompt: PromptForRun, inputs: dict[str, str]) -> str:
    for name, value in inputs.items():
        if not _storable_text(value):
            raise validation_error(
                f"inputs.{name}",
                f"The value of '{name}' contains a NUL character or invalid Unicode "
                "(an unpaired surrogate); remove it and send plain text.",
            )
    unknown = sorted(set(inputs) - set(prompt.variables))
    if unknown:
        raise validation_error(
            f"inputs.{unknown[0]}",
            f"This prompt has no variable '{unknown[0]}'; its variables are: "
            f"{', '.join(prompt.variables) or 'none'}.",
        )
    try:
        return render_template(prompt.template, inputs)
    except MissingVariables as exc:
        name = exc.names[0]
        raise validation_error(
            f"inputs.{name}",
            f"The prompt needs a value for '{name}'"
            + (f" (and {', '.join(exc.names[1:])})" if len(exc.names) > 1 else "")
            + ".",
        ) from None


def _insufficient(est: Estimate, balance: int) -> Problem:
    return Problem(
        402,
        "insufficient-funds",
        "Insufficient funds",
        f"This run needs {est.hold_cents} cents held ({est.price_cents} price + "
        f"{est.usage_cap_cents} usage cap); your wallet has {balance} cents. Top up your "
        "wallet, or lower max_tokens.",
        estimate=msgspec.to_builtins(est),
        balance_cents=balance,
    )


def _price_changed(est: Estimate, expected: int) -> Problem:
    return Problem(
        409,
        "price-changed",
        "Price changed",
        f"This prompt's price is now {est.price_cents} cents, not the {expected} cents you "
        f"saw. Nothing was held. Check the new estimate and start the run again with "
        f"expected_price_cents={est.price_cents}.",
        estimate=msgspec.to_builtins(est),
        expected_price_cents=expected,
    )


def _over_limit(exc: billing.SpendingLimitExceeded) -> Problem:
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    retry = max(1, int((midnight - now).total_seconds()))
    return Problem(
        429,
        "spending-limit",
        "Daily spending limit reached",
        f"This run would hold {exc.amount} cents, taking today's spending to "
        f"{exc.spent + exc.amount} cents, over your daily limit of {exc.limit} cents. The "
        "limit resets at midnight UTC.",
        headers={"Retry-After": str(retry)},
        spending_limit_cents=exc.limit,
        spent_today_cents=exc.spent,
        retry_after=retry,
    )


async def start_run(
    buyer_id: str,
    prompt_id: str,
    body: RunRequest,
    idempotency_key: str | None,
    *,
    queue_name: str | None = None,
    enqueue_job: bool = True,
) -> RunOut:
    """Create the run and its hold in one transaction, then publish and enqueue it.

    The same key with the same body returns the same run (and starts nothing); with another
    body it is a 422.
    """
    key = _check_key(idempotency_key)
    digest = request_hash(prompt_id, body)
    row = await _existing(buyer_id, key, digest)
    if row is not None:
        return run_out(row, buyer_id)
    prompt = await get_prompt_for_run(prompt_id)
    if prompt is None or (prompt.status != "active" and prompt.owner_id != buyer_id):
        raise not_found("This prompt")
    if prompt.status != "active":
        raise conflict("This prompt is archived; restore it to run it.", "prompt-archived")
    spec = _model_or_409(prompt.model)
    max_tokens = _max_tokens(spec, body.max_tokens)
    rendered = _validate_inputs(prompt, body.inputs)
    input_tokens = count_tokens(rendered)
    del rendered
    cap = usage_cents(spec, input_tokens, max_tokens)
    list_price = price = _price_for(prompt, buyer_id)
    # A subscription to the creator covers the price (checked again, locked, below).
    if price > 0 and await subscription_coverage.covering(buyer_id, prompt.owner_id):
        price = 0
    est = Estimate(
        prompt_id=prompt.id,
        model=spec.name,
        max_tokens=max_tokens,
        input_tokens=input_tokens,
        price_cents=price,
        usage_cap_cents=cap,
        hold_cents=price + cap,
    )
    if body.expected_price_cents is not None and body.expected_price_cents not in (
        price,
        list_price if price == 0 and list_price else price,
    ):
        # The run records the price checked here, so the buyer is charged what they saw.
        raise _price_changed(est, body.expected_price_cents)
    created = False
    async with outbox.transaction(deliver=False) as notices:
        accounts, balance = await billing.lock_wallet(buyer_id)
        row = await _existing(buyer_id, key, digest)
        subscription_id = None
        if row is None and list_price > 0:
            subscription_id = await subscription_coverage.covering(
                buyer_id, prompt.owner_id, lock=True
            )
            if (subscription_id is None) != (price == list_price):
                # The subscription's runs ran out (or it started) since the check above.
                price = 0 if subscription_id is not None else list_price
                est = msgspec.structs.replace(est, price_cents=price, hold_cents=price + cap)
                if body.expected_price_cents is not None and price > body.expected_price_cents:
                    raise _price_changed(est, body.expected_price_cents)
        if row is None:
            try:
                await billing.check_spending_limit(accounts, est.hold_cents)
            except billing.SpendingLimitExceeded as exc:
                raise _over_limit(exc) from None
            if balance < est.hold_cents:
                raise _insufficient(est, balance)
            row = await fetchrow(
                """
                INSERT INTO runs (prompt_id, prompt_version_id, prompt_version, buyer_id, creator_id,
                    model, visibility, inputs, max_tokens, input_tokens, price_cents,
                    usage_cap_cents, hold_cents, idempotency_key, request_hash, subscription_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                RETURNING *
                """,
                uuid.UUID(prompt.id),
                uuid.UUID(prompt.version_id),
                prompt.version,
                uuid.UUID(buyer_id),
                uuid.UUID(prompt.owner_id),
                spec.name,
                body.visibility,
                json.dumps(body.inputs),
                max_tokens,
                input_tokens,
                price,
                cap,
                est.hold_cents,
                key,
                digest,
                subscription_id,
            )
            assert row is not None
            try:
                await billing.hold_for_run(accounts, str(row["id"]), est.hold_cents)
            except ledger.InsufficientFunds:
                raise _insufficient(est, balance) from None
            live_counts = None
            if body.visibility == "public":
                live_counts = await fetchrow(
                    "UPDATE prompts SET live_runs = live_runs + 1 WHERE id = $1 "
                    "RETURNING live_runs, run_count",
                    row["prompt_id"],
                )
            created = True
            # The run's job and notices, delivered after run.queued is out (below).
            if enqueue_job:
                new_id = str(row["id"])
                await outbox.enqueue(
                    JOB_FUNCTION, new_id, 1, job_id=job_id(new_id, 1), queue=queue_name
                )
            await billing.publish_wallet(buyer_id)
            if body.visibility == "public":
                await _publish_live_started(row, prompt.title)
                if live_counts is not None:
                    await _publish_prompt_counts(str(row["prompt_id"]), live_counts)
    if not created:
        return run_out(row, buyer_id)
    run_id = str(row["id"])
    log.info(
        "run.created",
        run_id=run_id,
        prompt_id=prompt.id,
        user_id=buyer_id,
        hold_cents=est.hold_cents,
        visibility=body.visibility,
    )
    # run.queued first (its position goes into the 202), then the job, so the worker's
    # run.started always follows it; if Redis is down the outbox relay enqueues the job later.
    result = await _publish(run_id, event("run.queued", run_id=run_id, status="queued"))
    row = await _record_position(run_id, 1, result) or row
    await outbox.deliver_now(notices)
    return run_out(row, buyer_id)


# --- publishing --------------------------------------------------------------------------


PUBLISH_FAILED = object()


async def _publish(
    run_id: str, data: dict[str, Any], chan: str | None = None, idempotency_key: str | None = None
) -> Any:
    """Publish best-effort: a realtime outage must not undo or block committed state.

    Returns the engine's result, None without an engine, or PUBLISH_FAILED.
    """
    try:
        return await live.publish(chan or channel(run_id), data, idempotency_key=idempotency_key)
    except Exception:  # noqa: BLE001
        log.warning(
            "run.publish_failed",
            run_id=run_id,
            channel=chan or channel(run_id),
            type=data.get("type"),
            exc_info=True,
        )
        return PUBLISH_FAILED


def position(result: Any) -> tuple[int, str] | None:
    offset = getattr(result, "offset", None)
    epoch = getattr(result, "epoch", None)
    if offset is None or epoch is None:
        return None
    return int(offset), str(epoch)


async def _record_position(run_id: str, attempt: int, result: Any) -> dict[str, Any] | None:
    """Record the channel position of a publication that left `output` unchanged; returns
    the updated row (None when there was nothing to record)."""
    pos = position(result)
    if pos is None:
        return None
    return await fetchrow(
        "UPDATE runs SET stream_offset = $3, stream_epoch = $4 WHERE id = $1 AND attempt = $2 "
        "AND status IN ('queued', 'running') AND (stream_offset IS NULL OR stream_offset < $3) "
        "RETURNING *",
        uuid.UUID(run_id),
        attempt,
        pos[0],
        pos[1],
    )


async def _publish_live_started(row: dict[str, Any], title: str) -> None:
    run_id = str(row["id"])
    await outbox.publish(
        "live:runs",
        event(
            "live.run_started",
            run_id=run_id,
            prompt_id=str(row["prompt_id"]),
            prompt_title=title,
            model=row["model"],
            channel=channel(run_id),
            created_at=row["created_at"].isoformat(),
        ),
    )


async def _publish_prompt_counts(prompt_id: str, counts: dict[str, Any]) -> None:
    await outbox.publish(
        f"prompts:{prompt_id}",
        event(
            "prompt.live_runs",
            prompt_id=prompt_id,
            live_runs=counts["live_runs"],
            run_count=counts["run_count"],
        ),
    )


# --- terminal transitions ----------------------------------------------------------------


class Terminal(msgspec.Struct):
    """What a terminal transition committed, for the after-commit publications: `event` as
    the run's channel carries it (stored on the run; no money on a public run's channel)."""

    run: dict[str, Any]
    event: dict[str, Any]
    settlement: billing.Settlement | None = None
    prompt_counts: dict[str, Any] | None = None
    #: Outbox rows of the transition (wallet, sale, counters, live index), delivered by
    #: `announce` after the terminal event.
    notices: list[outbox.Row] = msgspec.field(default_factory=list)


MONEY_FIELDS = frozenset({"charge_cents", "refunded_cents", "price_cents", "hold_cents"})


def for_channel(visibility: str, ev: dict[str, Any]) -> dict[str, Any]:
    """The event as `runs:<id>` carries it. Anyone may watch a public run anonymously, so its
    channel carries no money (what the buyer paid, was refunded, or the usage cost): the buyer
    gets those on their personal channel (`run.charged`) and from GET /runs/{id}."""
    if visibility != "public":
        return ev
    out = {k: v for k, v in ev.items() if k not in MONEY_FIELDS}
    if isinstance(out.get("usage"), dict):
        out["usage"] = {k: v for k, v in out["usage"].items() if k != "cost_cents"}
    return out


def _money(row: dict[str, Any], ev: dict[str, Any]) -> dict[str, Any]:
    """`run.charged` for notifications#<buyer>: the money side of a terminal event."""
    return event(
        "run.charged",
        run_id=str(row["id"]),
        status=row["status"],
        price_cents=row["price_cents"],
        hold_cents=row["hold_cents"],
        charge_cents=row["charge_cents"],
        refunded_cents=row["refunded_cents"],
        usage=ev.get("usage"),
    )


async def _finish_row(
    run_id: str,
    sets: dict[str, Any],
    *,
    from_status: tuple[str, ...],
    attempt: int | None,
    worker_id: str | None,
) -> dict[str, Any] | None:
    args: list[Any] = [uuid.UUID(run_id), list(from_status)]
    assignments = []
    for column, value in sets.items():
        args.append(value)
        assignments.append(f"{column} = ${len(args)}")
    where = "id = $1 AND status = ANY($2::text[])"
    if attempt is not None:
        args += [attempt, worker_id]
        where += f" AND attempt = ${len(args) - 1} AND worker_id = ${len(args)}"
    return await fetchrow(
        f"UPDATE runs SET {', '.join(assignments)}, finished_at = now(), updated_at = now() "
        f"WHERE {where} RETURNING *",
        *args,
    )


async def _silent(run_id: str, seconds: float) -> bool:
    row = await fetchrow(
        "SELECT heartbeat_at < now() - make_interval(secs => $2) AS silent FROM runs WHERE id = $1",
        uuid.UUID(run_id),
        float(seconds),
    )
    return bool(row and row["silent"])


def _stream_sets(stream: tuple[int, str] | None) -> dict[str, Any]:
    if stream is None:
        return {}
    return {"stream_offset": stream[0], "stream_epoch": stream[1]}


async def _live_runs_down(row: dict[str, Any], *, completed: bool) -> dict[str, Any] | None:
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
        current = await load(run_id, lock=True)
        if (
            current is None
            or current["status"] != "running"
            or current["attempt"] != attempt
            or current["worker_id"] != worker_id
        ):
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
            from_status=("running",),
            attempt=attempt,
            worker_id=worker_id,
        )
        assert row is not None
        settlement = await billing.settle_run(
            run_id=run_id,
            prompt_id=str(row["prompt_id"]),
            buyer_id=str(row["buyer_id"]),
            creator_id=str(row["creator_id"]),
            hold_cents=row["hold_cents"],
            price_cents=row["price_cents"],
            usage_cents=cost,
        )
        counts = await _live_runs_down(row, completed=True)
        await _terminal_notices(row, settlement, counts, _money(row, ev))
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
        current = await load(run_id, lock=True)
        if current is None or current["status"] in TERMINAL:
            return None
        if only_if_silent_for is not None and not await _silent(run_id, only_if_silent_for):
            return None
        if attempt is not None and (
            current["attempt"] != attempt or current["worker_id"] != worker_id
        ):
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
            from_status=("queued", "running"),
            attempt=attempt,
            worker_id=worker_id,
        )
        assert row is not None
        await billing.refund_run(
            run_id=run_id,
            buyer_id=str(row["buyer_id"]),
            hold_cents=row["hold_cents"],
            memo=f"Run failed ({code}): full refund",
        )
        counts = await _live_runs_down(row, completed=False)
        await _terminal_notices(row, None, counts, _money(row, ev))
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
    from_status: tuple[str, ...] = ("queued", "running"),
    only_if_silent_for: float | None = None,
) -> Terminal | None:
    """End the run `canceled`. Before the first output token it costs nothing (the whole
    hold goes back); once output has begun the buyer has something of value, so the run is
    settled as a completed one: the full price (the creator's sale) plus the usage so far."""
    async with outbox.transaction(deliver=False) as notices:
        current = await load(run_id, lock=True)
        if current is None or current["status"] not in from_status:
            return None
        if only_if_silent_for is not None and not await _silent(run_id, only_if_silent_for):
            return None
        if attempt is not None and (
            current["attempt"] != attempt or current["worker_id"] != worker_id
        ):
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
        row = await _finish_row(
            run_id,
            sets,
            from_status=from_status,
            attempt=attempt,
            worker_id=worker_id,
        )
        assert row is not None
        settlement = None
        if began:
            settlement = await billing.settle_run(
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
            await billing.cancel_run(
                run_id=run_id, buyer_id=str(row["buyer_id"]), hold_cents=row["hold_cents"]
            )
        counts = await _live_runs_down(row, completed=False)
        await _terminal_notices(row, settlement, counts, _money(row, ev))
    return Terminal(
        run=row,
        event=for_channel(row["visibility"], ev),
        settlement=settlement,
        prompt_counts=counts,
        notices=notices,
    )


async def _terminal_notices(
    row: dict[str, Any],
    settlement: billing.Settlement | None,
    counts: dict[str, Any] | None,
    money: dict[str, Any],
) -> None:
    """Inside the terminal transition: its notices as outbox rows (the buyer's money facts
    and wallet, the creator's sale and earnings, the prompt counters, the live index; the
    creator's sale notification is one already, added by the settlement)."""
    run_id = str(row["id"])
    await outbox.publish(f"notifications#{row['buyer_id']}", money)
    await billing.publish_wallet(str(row["buyer_id"]))
    if settlement is not None and settlement.price_cents > 0:
        creator_id = str(row["creator_id"])
        await outbox.publish(
            f"sales#{creator_id}",
            event(
                "sale.created",
                run_id=run_id,
                prompt_id=str(row["prompt_id"]),
                gross_cents=settlement.price_cents,
                fee_cents=settlement.fee_cents,
                earning_cents=settlement.earning_cents,
                promotional=settlement.promo_gross_cents > 0,
                promo_earning_cents=settlement.promo_earning_cents,
                withheld_cents=settlement.withheld_cents,
                created_at=row["finished_at"].isoformat(),
            ),
        )
        await billing.publish_earnings(creator_id)
    if counts is not None:
        await _publish_prompt_counts(str(row["prompt_id"]), counts)
    if row["visibility"] == "public":
        await outbox.publish(
            "live:runs",
            event(
                "live.run_ended",
                run_id=run_id,
                prompt_id=str(row["prompt_id"]),
                status=row["status"],
            ),
        )


async def announce(terminal: Terminal) -> None:
    """After commit: the terminal event (once; the reaper retries it if we die first), then
    the transition's notices (outbox rows: the relay delivers them if we die first)."""
    row = terminal.run
    run_id = str(row["id"])
    await publish_terminal(run_id, terminal.event, row["attempt"])
    await outbox.deliver_now(terminal.notices)
    log.info(
        "run.finished",
        run_id=run_id,
        status=row["status"],
        charge_cents=row["charge_cents"],
        refunded_cents=row["refunded_cents"],
        error_code=row["error_code"],
    )


async def publish_terminal(run_id: str, ev: dict[str, Any], attempt: int) -> None:
    # At most once per run on its channel, even when a crash between this publish and the
    # UPDATE below makes the reaper send it again.
    result = await _publish(run_id, ev, idempotency_key="terminal")
    if result is PUBLISH_FAILED:
        return  # left for the reaper, which republishes unpublished terminal events
    pos = position(result)
    await fetch(
        "UPDATE runs SET terminal_published_at = now(), "
        "stream_offset = coalesce($2, stream_offset), stream_epoch = coalesce($3, stream_epoch) "
        "WHERE id = $1 AND terminal_published_at IS NULL",
        uuid.UUID(run_id),
        pos[0] if pos else None,
        pos[1] if pos else None,
    )


# --- support ---------------------------------------------------------------------------


async def admin_refund(run_id: str, admin_id: str) -> billing.AdminRefund:
    """Reverse a charged run (completed, or cancelled after its output began). Once per run."""
    async with outbox.transaction():
        row = await load(run_id, lock=True)
        if row is None:
            raise not_found("This run")
        charged = row["status"] == "completed" or (
            row["status"] == "canceled" and (row["charge_cents"] or 0) > 0
        )
        if not charged:
            raise conflict(
                f"Only charged runs can be refunded; this one is {row['status']} "
                f"(refunded {row['refunded_cents'] or 0} cents already).",
                "run-not-refundable",
            )
        try:
            result = await billing.admin_refund_run(
                run_id=run_id,
                buyer_id=str(row["buyer_id"]),
                creator_id=str(row["creator_id"]),
                price_cents=row["price_cents"],
                usage_cents=row["usage_cents"] or 0,
                hold_cents=row["hold_cents"],
            )
        except ledger.AlreadyPosted:
            raise conflict("This run was already refunded.", "run-already-refunded") from None
        await billing.publish_wallet(str(row["buyer_id"]))
        if result.earning_reversed_cents:
            await billing.publish_earnings(str(row["creator_id"]))
    log.info(
        "run.admin_refund",
        run_id=run_id,
        user_id=admin_id,
        refunded_cents=result.refunded_cents,
        creator_debt_cents=result.creator_debt_cents,
    )
    return result


# --- GDPR ------------------------------------------------------------------------------


async def export_user(user_id: str) -> list[dict[str, Any]]:
    """The user's runs (as buyer), with their inputs and outputs, for GET /me/export."""
    rows = await fetch(
        "SELECT id, prompt_id, prompt_version, status, visibility, model, inputs, output, "
        "max_tokens, usage_input_tokens, usage_output_tokens, charge_cents, refunded_cents, "
        "error_code, created_at, finished_at FROM runs WHERE buyer_id = $1 ORDER BY created_at",
        uuid.UUID(user_id),
    )
    out = []
    for r in rows:
        item = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}
        item["id"], item["prompt_id"] = str(r["id"]), str(r["prompt_id"])
        item["inputs"] = json.loads(r["inputs"]) if isinstance(r["inputs"], str) else r["inputs"]
        out.append(item)
    return out


async def erase_user(user_id: str) -> None:
    """Inside the erasure transaction: the user's inputs and outputs go; the money records
    (amounts, statuses) stay. Runs still in flight are asked to stop."""
    uid = uuid.UUID(user_id)
    await fetch(
        "UPDATE runs SET cancel_requested_at = coalesce(cancel_requested_at, now()) "
        "WHERE buyer_id = $1 AND status IN ('queued', 'running')",
        uid,
    )
    await fetch("UPDATE runs SET inputs = '{}'::jsonb, output = '' WHERE buyer_id = $1", uid)


# --- cancel ------------------------------------------------------------------------------


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
