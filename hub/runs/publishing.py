"""What a run publishes: on its channel `runs:<id>`, and the notices about it elsewhere.

Why a module of its own: the start, the lifecycle transitions, the reaper and the worker all
publish on a run's channel, and they must agree on three rules. Publishing is best-effort
(a realtime outage must not undo or block committed state; `PUBLISH_FAILED` tells the
caller to leave the retry to the reaper). The channel position of each publication is
recorded on the run, so a client reloading GET /runs/{id} resumes the stream where it was.
A public run's channel carries no money (`for_channel`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import structlog

from hub import live, outbox
from hub.billing import creators, wallets
from hub.billing.schemas import Settlement
from hub.platform.db import fetch, fetchrow
from hub.runs.schemas import event

log = structlog.get_logger(__name__)

PUBLISH_FAILED = object()
MONEY_FIELDS = frozenset({"charge_cents", "refunded_cents", "price_cents", "hold_cents"})


def channel(run_id: str | uuid.UUID) -> str:
    return f"runs:{run_id}"


async def publish(run_id: str, data: dict[str, Any], idempotency_key: str | None = None) -> Any:
    """Publish on the run's channel, best-effort: a realtime outage must not undo or block
    committed state.

    Returns the engine's result, None without an engine, or PUBLISH_FAILED.
    """
    try:
        return await live.publish(channel(run_id), data, idempotency_key=idempotency_key)
    except Exception:  # noqa: BLE001
        log.warning(
            "run.publish_failed",
            run_id=run_id,
            channel=channel(run_id),
            type=data.get("type"),
            exc_info=True,
        )
        return PUBLISH_FAILED


def position(result: Any) -> tuple[int, str] | None:
    """The (offset, epoch) of a publication, when the engine reported one."""
    offset = getattr(result, "offset", None)
    epoch = getattr(result, "epoch", None)
    if offset is None or epoch is None:
        return None
    return int(offset), str(epoch)


async def record_position(run_id: str, attempt: int, result: Any) -> dict[str, Any] | None:
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


async def publish_and_record(
    run_id: str, attempt: int, data: dict[str, Any]
) -> dict[str, Any] | None:
    """Publish a non-output event (run.queued, run.restarted) and record its position;
    returns the updated row, or None when nothing was recorded."""
    result = await publish(run_id, data)
    if result is PUBLISH_FAILED:
        return None
    return await record_position(run_id, attempt, result)


async def publish_terminal(run_id: str, ev: dict[str, Any]) -> None:
    """Publish the run's stored terminal event and mark it published.

    At most once per run on its channel (the engine's idempotency key), even when a crash
    between this publish and the UPDATE below makes the reaper send it again.
    """
    result = await publish(run_id, ev, idempotency_key="terminal")
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


async def publish_unpublished_terminal(row: dict[str, Any]) -> bool:
    """The run ended but its terminal event may never have gone out (its publisher died
    after the commit): publish it now. False when there was nothing to publish."""
    ev: Any = row["terminal_event"]
    if not ev or row["terminal_published_at"] is not None:
        return False
    await publish_terminal(str(row["id"]), json.loads(ev) if isinstance(ev, str) else ev)
    return True


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


def money_event(row: dict[str, Any], ev: dict[str, Any]) -> dict[str, Any]:
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


async def notice_live_started(row: dict[str, Any], title: str) -> None:
    """Inside the start transaction: a public run appears in the live index (`live:runs`)."""
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


async def notice_prompt_counts(prompt_id: str, counts: dict[str, Any]) -> None:
    """Inside a start or terminal transaction: the prompt's live and total run counters."""
    await outbox.publish(
        f"prompts:{prompt_id}",
        event(
            "prompt.live_runs",
            prompt_id=prompt_id,
            live_runs=counts["live_runs"],
            run_count=counts["run_count"],
        ),
    )


async def notice_terminal(
    row: dict[str, Any],
    ev: dict[str, Any],
    settlement: Settlement | None,
    counts: dict[str, Any] | None,
) -> None:
    """Inside the terminal transition: its notices as outbox rows (the buyer's money facts
    and wallet, the creator's sale and earnings, the prompt counters, the live index; the
    creator's sale notification is one already, added by the settlement)."""
    run_id = str(row["id"])
    await outbox.publish(f"notifications#{row['buyer_id']}", money_event(row, ev))
    await wallets.publish_wallet(str(row["buyer_id"]))
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
        await creators.publish_earnings(creator_id)
    if counts is not None:
        await notice_prompt_counts(str(row["prompt_id"]), counts)
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
