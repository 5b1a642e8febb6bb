"""Billing crons: pending earnings mature into available ones after the hold period."""

from __future__ import annotations

from typing import Any

import structlog
from arq import cron

from hub.billing import creators, payouts

log = structlog.get_logger("workers.billing")


async def mature_earnings(ctx: dict[str, Any]) -> int:
    """Idempotent: matured sales are marked in the same transaction as their posting."""
    moved = await creators.mature_earnings()
    if moved:
        log.info("job.mature_earnings", moved_cents=moved)
    return moved


async def create_payouts(ctx: dict[str, Any]) -> int:
    """Daily: open (and transfer) the payouts that are due. Idempotent per payout."""
    opened = await payouts.create_due_payouts()
    if opened:
        log.info("job.create_payouts", opened=opened)
    return opened


async def retry_payouts(ctx: dict[str, Any]) -> int:
    """Every few minutes: finish payouts a crash or a Stripe outage left in transit."""
    return await payouts.retry_in_transit()


CRON_JOBS: list[Any] = [
    cron(mature_earnings, second={30}, unique=True, timeout=300),
    cron(create_payouts, hour={6}, minute={0}, second={0}, unique=True, timeout=1800),
    cron(retry_payouts, minute=set(range(2, 60, 5)), second={15}, unique=True, timeout=600),
]
