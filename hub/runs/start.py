"""Starting a run: idempotency, input validation, the hold, the run's row and its job.

Why a module of its own: POST /prompts/{id}/runs is the one place money is taken before any
work is done, so its rules sit together. The same Idempotency-Key with the same body returns
the same run (and starts nothing); with another body it is a 422. The price the buyer saw
(`expected_price_cents`) is the price charged, or nothing is held. The row, the hold, the
live counters and the run's job are one transaction (the job and the notices are outbox rows,
delivered after `run.queued` is out); where the job goes is `hub.runs.jobs`'s business.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import structlog

from hub import outbox
from hub.billing import ledger, run_money, wallets
from hub.platform.db import fetchrow, storable
from hub.platform.errors import Problem, bad_request, conflict, not_found, validation_error
from hub.prompts.service import PromptForRun, get_prompt_for_run
from hub.prompts.templating import MissingVariables, render_template
from hub.providers.models import count_tokens, usage_cents
from hub.runs import jobs, publishing
from hub.runs.pricing import max_tokens_for, model_or_409, price_for
from hub.runs.queries import run_out
from hub.runs.schemas import Estimate, RunOut, RunRequest, event
from hub.subscriptions import coverage as subscription_coverage

log = structlog.get_logger(__name__)


def request_hash(prompt_id: str, body: RunRequest) -> str:
    """The body's fingerprint, stored with the run, that tells a retry from a reuse of a key."""
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


def _validate_inputs(prompt: PromptForRun, inputs: dict[str, str]) -> str:
    for name, value in inputs.items():
        if not storable(value):
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


def _over_limit(exc: wallets.SpendingLimitExceeded) -> Problem:
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
    buyer_id: str, prompt_id: str, body: RunRequest, idempotency_key: str | None
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
    spec = model_or_409(prompt.model)
    max_tokens = max_tokens_for(spec, body.max_tokens)
    rendered = _validate_inputs(prompt, body.inputs)
    input_tokens = count_tokens(rendered)
    del rendered
    cap = usage_cents(spec, input_tokens, max_tokens)
    list_price = price = price_for(prompt, buyer_id)
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
        accounts, balance = await wallets.lock_wallet(buyer_id)
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
                await wallets.check_spending_limit(accounts, est.hold_cents)
            except wallets.SpendingLimitExceeded as exc:
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
                await run_money.hold_for_run(accounts, str(row["id"]), est.hold_cents)
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
            await jobs.enqueue_first(str(row["id"]))
            await wallets.publish_wallet(buyer_id)
            if body.visibility == "public":
                await publishing.notice_live_started(row, prompt.title)
                if live_counts is not None:
                    await publishing.notice_prompt_counts(str(row["prompt_id"]), live_counts)
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
    queued = event("run.queued", run_id=run_id, status="queued")
    row = await publishing.publish_and_record(run_id, 1, queued) or row
    await outbox.deliver_now(notices)
    return run_out(row, buyer_id)
