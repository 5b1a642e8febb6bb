"""The moderation audit log: who did what to which item, when and why.

Every moderation action (a queue resolution, a moderator deleting someone else's message, a
room ban, a suspension) writes one row inside the transaction of the action itself, so an
action without its audit row cannot commit. Admins read it (`GET /admin/audit-log`).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from hub.moderation.schemas import AuditEntryOut, AuditPage, UserBrief
from hub.platform.db import fetch, fetchrow
from hub.platform.pagination import decode_cursor, page


async def record(
    actor_id: str | uuid.UUID | None,
    action: str,
    subject_type: str,
    subject_id: str | uuid.UUID | None,
    *,
    reason: str = "",
    target_user_id: str | uuid.UUID | None = None,
    case_id: str | uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry (inside the caller's transaction)."""
    await fetch(
        "INSERT INTO moderation_audit (actor_id, action, subject_type, subject_id, "
        "target_user_id, case_id, reason, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
        _uid(actor_id),
        action,
        subject_type,
        _uid(subject_id),
        _uid(target_user_id),
        _uid(case_id),
        reason,
        json.dumps(details or {}, default=str),
    )


async def removed_by_moderator(subject_type: str, subject_id: uuid.UUID) -> bool:
    """Whether a moderator removed this item (so its owner may not bring it back)."""
    row = await fetchrow(
        "SELECT 1 FROM moderation_audit WHERE subject_type = $1 AND subject_id = $2 "
        "AND action IN ('report.delete', 'report.ban') AND (details->>'deleted')::boolean "
        "LIMIT 1",
        subject_type,
        subject_id,
    )
    return row is not None


def _uid(value: str | uuid.UUID | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(value)


def _brief(row: dict[str, Any], prefix: str) -> UserBrief | None:
    if row[f"{prefix}_id"] is None:
        return None
    return UserBrief(
        id=str(row[f"{prefix}_id"]),
        handle=row[f"{prefix}_handle"],
        display_name=row[f"{prefix}_display_name"],
    )


async def list_entries(action: str | None, cursor: str | None, limit: int) -> AuditPage:
    key, after = decode_cursor(cursor, "audit", datetime, int) if cursor else (None, None)
    rows = await fetch(
        "SELECT a.id, a.action, a.subject_type, a.subject_id, a.case_id, a.reason, a.details, "
        "a.created_at, a.actor_id, ac.handle AS actor_handle, "
        "ac.display_name AS actor_display_name, a.target_user_id AS target_id, "
        "t.handle AS target_handle, t.display_name AS target_display_name "
        "FROM moderation_audit a LEFT JOIN users ac ON ac.id = a.actor_id "
        "LEFT JOIN users t ON t.id = a.target_user_id "
        "WHERE ($1::text IS NULL OR a.action = $1) "
        "AND ($2::timestamptz IS NULL OR (a.created_at, a.id) < ($2, $3)) "
        "ORDER BY a.created_at DESC, a.id DESC LIMIT $4",
        action,
        key,
        after,
        limit + 1,
    )
    items, next_cursor = page(rows, limit, "audit", lambda r: r["created_at"])
    return AuditPage(
        items=[
            AuditEntryOut(
                id=str(r["id"]),
                actor=_brief(r, "actor"),
                action=r["action"],
                subject_type=r["subject_type"],
                subject_id=str(r["subject_id"]) if r["subject_id"] else None,
                target_user=_brief(r, "target"),
                case_id=str(r["case_id"]) if r["case_id"] else None,
                reason=r["reason"],
                details=r["details"]
                if isinstance(r["details"], dict)
                else json.loads(r["details"] or "{}"),
                created_at=r["created_at"],
            )
            for r in items
        ],
        next_cursor=next_cursor,
    )
