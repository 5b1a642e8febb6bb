"""Support's refund of a charged run (POST /admin/runs/{id}/refund).

Why a module of its own: it is not a transition of the run (the run stays completed or
canceled) but a money correction after the fact, decided by an admin; the ledger's
`AlreadyPosted` makes it once per run.
"""

from __future__ import annotations

import structlog

from hub import outbox
from hub.billing import creators, ledger, run_money, wallets
from hub.platform.errors import conflict, not_found
from hub.runs.queries import load

log = structlog.get_logger(__name__)


async def admin_refund(run_id: str, admin_id: str) -> run_money.AdminRefund:
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
            result = await run_money.admin_refund_run(
                run_id=run_id,
                buyer_id=str(row["buyer_id"]),
                creator_id=str(row["creator_id"]),
                price_cents=row["price_cents"],
                usage_cents=row["usage_cents"] or 0,
                hold_cents=row["hold_cents"],
            )
        except ledger.AlreadyPosted:
            raise conflict("This run was already refunded.", "run-already-refunded") from None
        await wallets.publish_wallet(str(row["buyer_id"]))
        if result.earning_reversed_cents:
            await creators.publish_earnings(str(row["creator_id"]))
    log.info(
        "run.admin_refund",
        run_id=run_id,
        user_id=admin_id,
        refunded_cents=result.refunded_cents,
        creator_debt_cents=result.creator_debt_cents,
    )
    return result
