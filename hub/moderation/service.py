"""Reports and the moderation queue.

Users report a message, prompt, review or user (`report`). Reports of one item collapse into
one queue entry, a *case*, while it is open: the partial unique index on open cases makes
concurrent first reports meet on one row, and each reporter counts once. Moderators list the
queue (`list_cases`) and resolve a case (`resolve`) with an action: `delete` the item, `ban`
its author from posting for N minutes, or `dismiss`. The action, the case's resolution and
its audit row commit together. Moderators watch the queue live on `moderation:reports`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import structlog

from hub import outbox
from hub.community import notifications
from hub.moderation import audit
from hub.moderation.schemas import (
    CaseOut,
    CasePage,
    ReportIn,
    ReportOut,
    ReportReason,
    Resolution,
    ResolveIn,
    SubjectOut,
    UserBrief,
)
from hub.platform import outages
from hub.platform.auth import CurrentUser
from hub.platform.db import fetch, fetchrow
from hub.platform.errors import (
    Problem,
    bad_request,
    conflict,
    forbidden,
    not_found,
    too_many,
    validation_error,
)
from hub.platform.pagination import decode_cursor, page
from hub.platform.redis import get_redis

log = structlog.get_logger(__name__)

QUEUE_CHANNEL = "moderation:reports"
REPORTS_PER_HOUR = 30
REASONS_SHOWN = 20

_CASE_COLUMNS = (
    "c.id, c.subject_type, c.subject_id, c.subject_owner_id, c.status, c.report_count, "
    "c.opened_at, c.last_reported_at, c.resolved_at, c.resolution, c.resolution_reason, "
    "c.ban_minutes, c.resolved_by, rb.handle AS resolver_handle, "
    "rb.display_name AS resolver_display_name"
)
_CASE_FROM = "FROM moderation_cases c LEFT JOIN users rb ON rb.id = c.resolved_by "

Effect = Callable[[], Awaitable[None]]


def require_moderator(user: CurrentUser) -> None:
    if not user.is_moderator:
        raise forbidden("Only moderators can see and act on the moderation queue.")


def _parse_id(value: str, subject_type: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise bad_request(f"subject_id must be the id of a {subject_type}.", "subject_id") from exc


# --- subjects -----------------------------------------------------------------------------


async def _user_brief(user_id: uuid.UUID | None) -> UserBrief | None:
    if user_id is None:
        return None
    row = await fetchrow("SELECT id, handle, display_name FROM users WHERE id = $1", user_id)
    if row is None:
        return None
    return UserBrief(id=str(row["id"]), handle=row["handle"], display_name=row["display_name"])


async def load_subject(
    subject_type: str, subject_id: uuid.UUID, viewer: CurrentUser | None
) -> tuple[SubjectOut, uuid.UUID | None]:
    """The item as a moderator sees it, and the id of its author; 404 when it does not exist
    or `viewer` (a reporter) may not see it. Moderators (viewer None) see removed items too."""
    from hub.rooms import service as rooms

    missing = not_found(f"This {subject_type}")
    if subject_type == "message":
        row = await fetchrow(
            "SELECT m.author_id, m.text, m.deleted, r.slug FROM room_messages m "
            "JOIN rooms r ON r.id = m.room_id WHERE m.id = $1",
            subject_id,
        )
        if row is None:
            raise missing
        if viewer is not None:
            room = await rooms.find_room(row["slug"])
            if row["deleted"] or room is None or not await rooms.can_read(room, viewer):
                raise missing
        owner = row["author_id"]
        subject = SubjectOut(
            type="message",
            id=str(subject_id),
            url=f"/chat/{row['slug']}",
            preview=row["text"],
            author=await _user_brief(owner),
            room=row["slug"],
            removed=row["deleted"],
        )
    elif subject_type == "prompt":
        row = await fetchrow(
            "SELECT owner_id, title, description, status FROM prompts WHERE id = $1", subject_id
        )
        if row is None or (viewer is not None and row["status"] != "active"):
            raise missing
        owner = row["owner_id"]
        subject = SubjectOut(
            type="prompt",
            id=str(subject_id),
            url=f"/prompts/{subject_id}",
            preview=f"{row['title']}\n\n{row['description']}".strip(),
            author=await _user_brief(owner),
            removed=row["status"] != "active",
        )
    elif subject_type == "review":
        row = await fetchrow(
            "SELECT r.user_id, r.body, r.rating, r.prompt_id, p.status FROM reviews r "
            "JOIN prompts p ON p.id = r.prompt_id WHERE r.id = $1",
            subject_id,
        )
        if row is None or (viewer is not None and row["status"] != "active"):
            raise missing
        owner = row["user_id"]
        subject = SubjectOut(
            type="review",
            id=str(subject_id),
            url=f"/prompts/{row['prompt_id']}#reviews-h",
            preview=f"{row['rating']}/5: {row['body']}",
            author=await _user_brief(owner),
        )
    else:
        row = await fetchrow(
            "SELECT id, handle, display_name, bio, deleted_at FROM users WHERE id = $1",
            subject_id,
        )
        if row is None or (viewer is not None and row["deleted_at"] is not None):
            raise missing
        owner = row["id"]
        subject = SubjectOut(
            type="user",
            id=str(subject_id),
            url=f"/creators/{row['handle']}",
            preview=f"@{row['handle']} ({row['display_name']})\n{row['bio']}".strip(),
            author=UserBrief(
                id=str(row["id"]), handle=row["handle"], display_name=row["display_name"]
            ),
            removed=row["deleted_at"] is not None,
        )
    return subject, owner


async def _removed_subject(case: dict[str, Any]) -> SubjectOut:
    """A subject whose row is gone (a deleted review): what the case still knows."""
    return SubjectOut(
        type=case["subject_type"],
        id=str(case["subject_id"]),
        url="",
        preview="(removed)",
        author=await _user_brief(case["subject_owner_id"]),
        removed=True,
    )


# --- reporting ----------------------------------------------------------------------------


async def _rate_limit(user_id: str) -> None:
    key = f"hub:reports:rate:{user_id}"
    pipe = get_redis().pipeline(transaction=False)
    pipe.set(key, 0, ex=3600, nx=True)
    pipe.incr(key)
    pipe.ttl(key)
    try:
        _, count, ttl = await pipe.execute()
    except outages.REDIS_ERRORS:
        return  # a rate limit, not a security check: it fails open while Redis is unreachable
    if int(count) > REPORTS_PER_HOUR:
        raise too_many(
            f"You have sent {REPORTS_PER_HOUR} reports in the last hour; try again later.",
            max(1, int(ttl)),
        )


def _report_out(row: dict[str, Any], case: dict[str, Any]) -> ReportOut:
    return ReportOut(
        id=str(row["id"]),
        case_id=str(case["id"]),
        subject_type=case["subject_type"],
        subject_id=str(case["subject_id"]),
        reason=row["reason"],
        status=case["status"],
        created_at=row["created_at"],
    )


async def report(user: CurrentUser, body: ReportIn) -> tuple[ReportOut, bool]:
    """File a report; returns (report, created). Reporting an item again while its case is
    open returns the first report unchanged (and does not count twice)."""
    subject_id = _parse_id(body.subject_id, body.subject_type)
    reason = body.reason.strip()
    if not reason:
        raise validation_error("reason", "Say what is wrong with it.")
    _, owner = await load_subject(body.subject_type, subject_id, user)
    if owner is not None and str(owner) == user.id:
        what = "yourself" if body.subject_type == "user" else f"your own {body.subject_type}"
        raise validation_error("subject_id", f"You cannot report {what}.")
    await _rate_limit(user.id)
    async with outbox.transaction():
        case = await fetchrow(
            "INSERT INTO moderation_cases AS c (subject_type, subject_id, subject_owner_id) "
            "VALUES ($1, $2, $3) ON CONFLICT (subject_type, subject_id) WHERE status = 'open' "
            "DO UPDATE SET subject_owner_id = c.subject_owner_id "
            "RETURNING c.id, c.subject_type, c.subject_id, c.status, (xmax = 0) AS opened",
            body.subject_type,
            subject_id,
            owner,
        )
        assert case is not None
        row = await fetchrow(
            "INSERT INTO reports (case_id, reporter_id, reason) VALUES ($1, $2, $3) "
            "ON CONFLICT (case_id, reporter_id) DO NOTHING RETURNING id, reason, created_at",
            case["id"],
            uuid.UUID(user.id),
            reason,
        )
        created = row is not None
        if row is not None:
            await fetch(
                "UPDATE moderation_cases SET report_count = report_count + 1, "
                "last_reported_at = now() WHERE id = $1",
                case["id"],
            )
        else:
            row = await fetchrow(
                "SELECT id, reason, created_at FROM reports WHERE case_id = $1 AND reporter_id = $2",
                case["id"],
                uuid.UUID(user.id),
            )
            assert row is not None
        if created:
            await _publish_case(case["id"], "report.opened" if case["opened"] else "report.updated")
    out = _report_out(row, case)
    if created:
        log.info(
            "moderation.reported",
            case_id=out.case_id,
            subject_type=out.subject_type,
            user_id=user.id,
            opened=case["opened"],
        )
    return out, created


# --- the queue ----------------------------------------------------------------------------


async def _case_out(row: dict[str, Any], reasons: list[dict[str, Any]]) -> CaseOut:
    try:
        subject, _ = await load_subject(row["subject_type"], row["subject_id"], None)
    except Problem:  # a deleted review: show what the case recorded
        subject = await _removed_subject(row)
    resolution = None
    if row["resolution"] is not None:
        resolution = Resolution(
            action=row["resolution"],
            reason=row["resolution_reason"] or "",
            by=UserBrief(
                id=str(row["resolved_by"]),
                handle=row["resolver_handle"],
                display_name=row["resolver_display_name"],
            )
            if row["resolved_by"]
            else None,
            at=row["resolved_at"],
            minutes=row["ban_minutes"],
        )
    return CaseOut(
        id=str(row["id"]),
        status=row["status"],
        subject=subject,
        report_count=row["report_count"],
        reports=[
            ReportReason(
                reporter=UserBrief(
                    id=str(r["reporter_id"]), handle=r["handle"], display_name=r["display_name"]
                ),
                reason=r["reason"],
                created_at=r["created_at"],
            )
            for r in reasons
        ],
        opened_at=row["opened_at"],
        last_reported_at=row["last_reported_at"],
        resolution=resolution,
    )


async def _reasons(case_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    rows = await fetch(
        "SELECT * FROM (SELECT r.case_id, r.reporter_id, r.reason, r.created_at, u.handle, "
        "u.display_name, row_number() OVER (PARTITION BY r.case_id ORDER BY r.created_at DESC, "
        "r.id DESC) AS n FROM reports r JOIN users u ON u.id = r.reporter_id "
        "WHERE r.case_id = ANY($1::uuid[])) x WHERE n <= $2 ORDER BY created_at DESC",
        case_ids,
        REASONS_SHOWN,
    )
    out: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["case_id"], []).append(r)
    return out


async def get_case(case_id: uuid.UUID) -> CaseOut:
    row = await fetchrow(f"SELECT {_CASE_COLUMNS} {_CASE_FROM} WHERE c.id = $1", case_id)
    if row is None:
        raise not_found("This report")
    return await _case_out(row, (await _reasons([case_id])).get(case_id, []))


async def list_cases(status: str, cursor: str | None, limit: int) -> CasePage:
    """Open cases oldest first (a queue), resolved ones most recently resolved first."""
    if status == "open":
        key, after = decode_cursor(cursor, "cases-open", datetime) if cursor else (None, None)
        rows = await fetch(
            f"SELECT {_CASE_COLUMNS} {_CASE_FROM} WHERE c.status = 'open' "
            "AND ($1::timestamptz IS NULL OR (c.opened_at, c.id) > ($1, $2)) "
            "ORDER BY c.opened_at, c.id LIMIT $3",
            key,
            after,
            limit + 1,
        )
        items, next_cursor = page(rows, limit, "cases-open", lambda r: r["opened_at"])
    else:
        key, after = decode_cursor(cursor, "cases-resolved", datetime) if cursor else (None, None)
        rows = await fetch(
            f"SELECT {_CASE_COLUMNS} {_CASE_FROM} WHERE c.status = 'resolved' "
            "AND ($1::timestamptz IS NULL OR (c.resolved_at, c.id) < ($1, $2)) "
            "ORDER BY c.resolved_at DESC, c.id DESC LIMIT $3",
            key,
            after,
            limit + 1,
        )
        items, next_cursor = page(rows, limit, "cases-resolved", lambda r: r["resolved_at"])
    reasons = await _reasons([r["id"] for r in items])
    return CasePage(
        items=[await _case_out(r, reasons.get(r["id"], [])) for r in items],
        next_cursor=next_cursor,
    )


async def _publish_case(case_id: uuid.UUID, event: str) -> None:
    """In the transaction of the change: the case as it now stands, to the queue's channel."""
    case = await get_case(case_id)
    await outbox.publish(QUEUE_CHANNEL, {"type": event, "case": msgspec.to_builtins(case)})


# --- resolving ----------------------------------------------------------------------------


async def _delete_subject(case: dict[str, Any], owner: uuid.UUID | None) -> list[Effect]:
    """Remove the reported item inside the resolution's transaction; what to publish after."""
    from hub.community import reviews
    from hub.rooms import messages as room_messages

    subject_type, subject_id = case["subject_type"], case["subject_id"]
    if subject_type == "message":
        slug = await room_messages.remove_message(subject_id)
        return [lambda: room_messages.announce_message_removed(slug, subject_id)] if slug else []
    if subject_type == "prompt":
        from hub.prompts import service as prompts
        from hub.prompts.schemas import PromptPatch

        row = await fetchrow("SELECT owner_id, status FROM prompts WHERE id = $1", subject_id)
        if row is None or row["status"] != "active":
            return []
        # As its owner would archive it: one place for what archiving means (listings, events).
        await prompts.update_prompt(
            subject_id, str(row["owner_id"]), PromptPatch(status="archived")
        )
        return []
    if subject_type == "review":
        return await reviews.remove_review(subject_id)
    raise validation_error("action", "A user cannot be deleted; ban them instead.")


async def _suspend(target: uuid.UUID, minutes: int, reason: str, moderator: uuid.UUID) -> datetime:
    until = datetime.now(UTC) + timedelta(minutes=minutes)
    await fetch(
        "INSERT INTO community_suspensions (user_id, until, reason, created_by) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET until = EXCLUDED.until, "
        "reason = EXCLUDED.reason, created_by = EXCLUDED.created_by, created_at = now()",
        target,
        until,
        reason,
        moderator,
    )
    return until


async def resolve(user: CurrentUser, case_id: uuid.UUID, body: ResolveIn) -> CaseOut:
    """Act on a case once: the action, the resolution and its audit row commit together."""
    require_moderator(user)
    me = uuid.UUID(user.id)
    reason = body.reason.strip()
    if not reason:
        raise validation_error("reason", "Say why, for the audit log.")
    if body.action == "ban" and body.minutes is None:
        raise validation_error("minutes", "A ban needs `minutes` (1 to 525600).")
    if body.action != "ban" and body.minutes is not None:
        raise validation_error("minutes", "`minutes` applies to a ban only.")
    effects: list[Effect] = []
    details: dict[str, Any] = {}
    async with outbox.transaction():
        case = await fetchrow(
            "SELECT id, subject_type, subject_id, subject_owner_id, status, report_count "
            "FROM moderation_cases WHERE id = $1 FOR UPDATE",
            case_id,
        )
        if case is None:
            raise not_found("This report")
        if case["status"] != "open":
            raise conflict("This report has already been resolved.", "already-resolved")
        owner = case["subject_owner_id"]
        try:
            subject, _ = await load_subject(case["subject_type"], case["subject_id"], None)
            details["preview"] = subject.preview[:500]
        except Problem:  # already gone (a review deleted meanwhile)
            details["preview"] = None
        if body.action == "ban":
            if owner is None:
                raise validation_error("action", "The author of this item no longer exists.")
            if str(owner) == user.id:
                raise validation_error("action", "You cannot ban yourself.")
            until = await _suspend(owner, body.minutes or 0, reason, me)
            details.update(minutes=body.minutes, until=until.isoformat())
        if body.action == "delete" or (body.action == "ban" and body.delete):
            effects += await _delete_subject(case, owner)
            details["deleted"] = True
        await fetch(
            "UPDATE moderation_cases SET status = 'resolved', resolution = $2, "
            "resolution_reason = $3, ban_minutes = $4, resolved_by = $5, resolved_at = now() "
            "WHERE id = $1",
            case_id,
            body.action,
            reason,
            body.minutes if body.action == "ban" else None,
            me,
        )
        details["report_count"] = case["report_count"]
        # Each reporter hears what came of it (the moderator's reason stays in the audit log).
        reporters = await fetch("SELECT reporter_id FROM reports WHERE case_id = $1", case_id)
        for r in reporters:
            await notifications.notify(
                r["reporter_id"],
                "report.resolved",
                f"report:{case_id}",
                data={
                    "case_id": str(case_id),
                    "subject_type": case["subject_type"],
                    "action": body.action,
                },
            )
        await audit.record(
            me,
            f"report.{body.action}",
            case["subject_type"],
            case["subject_id"],
            reason=reason,
            target_user_id=owner,
            case_id=case_id,
            details=details,
        )
        await _publish_case(case_id, "report.resolved")
    log.info(
        "moderation.resolved",
        case_id=str(case_id),
        action=body.action,
        subject_type=case["subject_type"],
        user_id=user.id,
    )
    for effect in effects:
        await effect()
    return await get_case(case_id)
