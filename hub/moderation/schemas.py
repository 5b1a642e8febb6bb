"""Request and response bodies of reports, the moderation queue and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from hub.prompts.schemas import NO_NUL

SubjectType = Literal["message", "prompt", "review", "user"]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=1000, pattern=NO_NUL)]


class ReportIn(msgspec.Struct, forbid_unknown_fields=True):
    subject_type: SubjectType
    subject_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    reason: Reason


class ReportOut(msgspec.Struct):
    """Your report. Reporting the same item again while it is in the queue changes nothing."""

    id: str
    case_id: str
    subject_type: str
    subject_id: str
    reason: str
    status: Literal["open", "resolved"]
    created_at: datetime


class UserBrief(msgspec.Struct):
    id: str
    handle: str
    display_name: str


class SubjectOut(msgspec.Struct):
    """What was reported, as the moderator needs to judge it."""

    type: SubjectType
    id: str
    url: str  # the web page of the item
    preview: str  # the message or review text, the prompt title, the user's handle and bio
    author: UserBrief | None  # whom a ban hits
    room: str | None = None  # messages: the room slug
    removed: bool = False  # already deleted or archived


class ReportReason(msgspec.Struct):
    reporter: UserBrief
    reason: str
    created_at: datetime


class Resolution(msgspec.Struct):
    action: Literal["delete", "ban", "dismiss"]
    reason: str
    by: UserBrief | None
    at: datetime
    minutes: int | None = None


class CaseOut(msgspec.Struct):
    """One queue entry: every report of one item while it is open."""

    id: str
    status: Literal["open", "resolved"]
    subject: SubjectOut
    report_count: int
    reports: list[ReportReason]  # the latest 20
    opened_at: datetime
    last_reported_at: datetime
    resolution: Resolution | None


class CasePage(msgspec.Struct):
    items: list[CaseOut]
    next_cursor: str | None


class ResolveIn(msgspec.Struct, forbid_unknown_fields=True):
    """`delete` removes the item (a user cannot be deleted: ban them); `ban` suspends its
    author from posting for `minutes` (and also removes the item with `delete: true`);
    `dismiss` closes the case. `reason` goes to the audit log."""

    action: Literal["delete", "ban", "dismiss"]
    reason: Reason
    minutes: Annotated[int, msgspec.Meta(ge=1, le=525600)] | None = None
    delete: bool = False


class AuditEntryOut(msgspec.Struct):
    id: str
    actor: UserBrief | None
    action: str  # report.delete, report.ban, report.dismiss, message.delete, room.ban
    subject_type: str
    subject_id: str | None
    target_user: UserBrief | None
    case_id: str | None
    reason: str
    details: dict[str, Any]
    created_at: datetime


class AuditPage(msgspec.Struct):
    items: list[AuditEntryOut]
    next_cursor: str | None
