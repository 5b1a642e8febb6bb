"""Subscription jobs: earnings of paid invoices mature like run sales."""

from __future__ import annotations

from typing import Any

import structlog
from arq import cron

from hub.subscriptions import webhooks

log = structlog.get_logger("workers.subscriptions")


async def mature_subscription_earnings(ctx: dict[str, Any]) -> int:
    """Idempotent: each invoice is marked matured in its posting's transaction."""
    moved = await webhooks.mature_invoices()
    if moved:
        log.info("job.mature_subscription_earnings", moved_cents=moved)
    return moved


FUNCTIONS: list[Any] = [mature_subscription_earnings]
CRON_JOBS: list[Any] = [cron(mature_subscription_earnings, minute={7, 37}, second={15})]
