"""Job registry: each domain's jobs are listed here (module-level `async def job(ctx, ...)`)."""

from __future__ import annotations

from typing import Any

import structlog

from hub.accounts import service as accounts
from hub.accounts import verification
from workers import billing as billing_jobs
from workers import community as community_jobs
from workers import feeds
from workers import mail as mail_jobs
from workers import reaper as reaper_jobs
from workers import recommendations as recommendation_jobs
from workers import runs as run_jobs
from workers import subscriptions as subscription_jobs

log = structlog.get_logger("workers.jobs")


async def prune_refresh_tokens(ctx: dict[str, Any]) -> int:
    """Delete long-expired refresh tokens and mailed links. Idempotent: a second run finds
    nothing."""
    removed = await accounts.prune_refresh_tokens() + await verification.prune_tokens()
    log.info("job.prune_refresh_tokens", removed=removed)
    return removed


FUNCTIONS: list[Any] = [
    prune_refresh_tokens,
    *feeds.FUNCTIONS,
    *run_jobs.FUNCTIONS,
    *community_jobs.FUNCTIONS,
    *recommendation_jobs.FUNCTIONS,
    *subscription_jobs.FUNCTIONS,
]
CRON_JOBS: list[Any] = [
    *feeds.CRON_JOBS,
    *mail_jobs.CRON_JOBS,
    *reaper_jobs.CRON_JOBS,
    *billing_jobs.CRON_JOBS,
    *community_jobs.CRON_JOBS,
    *recommendation_jobs.CRON_JOBS,
    *subscription_jobs.CRON_JOBS,
]
