"""Moderation's part of GDPR export and erasure (wired in hub/wiring.py).

Export: the reports the user filed and any suspension of them. Erasure blanks the reasons
they wrote (the cases keep their counts, so the queue stays truthful); the audit log is kept
as the record of what moderators did (its rows point at the anonymised account).
"""

from __future__ import annotations

import uuid
from typing import Any

from hub.platform.db import fetch


async def export_for_user(user_id: str) -> dict[str, Any]:
    uid = uuid.UUID(user_id)
    reports = await fetch(
        "SELECT r.id, c.subject_type, c.subject_id, r.reason, r.created_at, c.status, "
        "c.resolution FROM reports r JOIN moderation_cases c ON c.id = r.case_id "
        "WHERE r.reporter_id = $1 ORDER BY r.created_at",
        uid,
    )
    suspension = await fetch(
        "SELECT until, reason, created_at FROM community_suspensions WHERE user_id = $1", uid
    )
    return {"reports_filed": reports, "suspensions": suspension}


async def erase_for_user(user_id: str) -> None:
    await fetch("UPDATE reports SET reason = '[erased]' WHERE reporter_id = $1", uuid.UUID(user_id))
