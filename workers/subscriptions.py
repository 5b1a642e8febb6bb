"""Subscription jobs: earnings of paid invoices mature like run sales."""

from __future__ import annotations

from typing import Any

import structlog
from arq import Retry, cron

from hub.subscriptions import service, webhooks

log = structlog.get_logger("workers.subscriptions")


async def mature_subscription_earnings(ctx: dict[str, Any]) -> int:
    """Idempotent: each invoice is marked matured in its posting's transaction."""
    moved = await webhooks.mature_invoices()
    if moved:
        log.info("job.mature_subscription_earnings", moved_cents=moved)
    return moved


async def cancel_subscription_now(ctx: dict[str, Any], subscription_id: str) -> bool:
    """Account erasure ends the account's subscriptions at Stripe. A Stripe error fails the
    try; arq tries again (with its backoff) until Stripe answers."""
    try:
        return await service.cancel_now(subscription_id)
    except Exception as exc:
        log.warning(
            "job.cancel_subscription_failed",
            subscription_id=subscription_id,
            error=type(exc).__name__,
        )
        raise Retry(defer=min(300, 5 * ctx.get("job_try", 1) ** 2)) from exc


FUNCTIONS: list[Any] = [mature_subscription_earnings, cancel_subscription_now]
CRON_JOBS: list[Any] = [cron(mature_subscription_earnings, minute={7, 37}, second={15})]
