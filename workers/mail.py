"""Mail crons: deliver the outbox rows that the sender after commit missed."""

from __future__ import annotations

from typing import Any

import structlog
from arq import cron

from hub import mail

log = structlog.get_logger("workers.mail")


async def deliver_pending_mail(ctx: dict[str, Any]) -> int:
    """Idempotent: each row is claimed before it is sent and marked once delivered."""
    sent = await mail.deliver_pending()
    if sent:
        log.info("job.deliver_pending_mail", sent=sent)
    return sent


CRON_JOBS: list[Any] = [
    cron(deliver_pending_mail, second=set(range(5, 60, 15)), unique=True, timeout=300),
]
