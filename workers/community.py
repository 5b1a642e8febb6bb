"""Community jobs: live unread counts of chat rooms (and, later, email digests)."""

from __future__ import annotations

from typing import Any

from hub.rooms import reads


async def room_unread_fanout(ctx: dict[str, Any], room_id: str) -> int:
    """Push the room's followers their unread counts. Idempotent: it publishes the counts as
    they are now, so a repeat only repeats the same numbers."""
    return await reads.fanout(room_id)


FUNCTIONS: list[Any] = [room_unread_fanout]
CRON_JOBS: list[Any] = []
