"""Billing crons: pending earnings mature into available ones after the hold period."""

from __future__ import annotations

from typing import Any

import structlog
from arq import cron

from hub.billing import service

log = structlog.get_logger("workers.billing")


async def mature_earnings(ctx: dict[str, Any]) -> int:
    """Idempotent: matured sales are marked in the same transaction as their posting."""
    moved = await service.mature_earnings()
    if moved:
        log.info("job.mature_earnings", moved_cents=moved)
    return moved


CRON_JOBS: list[Any] = [cron(mature_earnings, second={30}, unique=True, timeout=300)]
