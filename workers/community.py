"""Community jobs: live unread counts of chat rooms, email digests."""

from __future__ import annotations

from typing import Any

from arq import cron

from hub.community import digests
from hub.rooms import reads


async def room_unread_fanout(ctx: dict[str, Any], room_id: str) -> int:
    """Push the room's followers their unread counts. Idempotent: it publishes the counts as
    they are now, so a repeat only repeats the same numbers."""
    return await reads.fanout(room_id)


async def send_notification_digests(ctx: dict[str, Any]) -> int:
    """Queue the email digests due this period. Idempotent per user and period: a second run,
    or two at once, queues nothing more (see hub.community.digests)."""
    return await digests.send_digests()


FUNCTIONS: list[Any] = [room_unread_fanout, send_notification_digests]
CRON_JOBS: list[Any] = [
    cron(
        send_notification_digests,
        minute={0, 15, 30, 45},
        second={40},
        unique=True,
        timeout=600,
    )
]
