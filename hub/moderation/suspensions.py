"""Community suspensions: a moderator's "ban for N minutes" from the moderation queue.

A suspended user may read everything but post nothing in the community until the ban ends:
no chat message in any room or DM, no review or reply, and no new prompt. Reporting stays
open (the suspended may be the harassed). The check is one primary-key lookup, made where
each of those is written.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from hub.platform.db import fetchrow


async def suspended_until(user_id: str | uuid.UUID) -> datetime | None:
    uid = user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(user_id)
    row = await fetchrow(
        "SELECT until FROM community_suspensions WHERE user_id = $1 AND until > now()", uid
    )
    return row["until"] if row else None


def suspended_message(until: datetime) -> str:
    return (
        f"Your account is suspended from posting until {until.isoformat()} "
        "by a moderator's decision."
    )
