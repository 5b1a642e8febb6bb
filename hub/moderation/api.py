"""Reports, the moderation queue and the audit log (thin controllers)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from hub.moderation import audit, service
from hub.moderation import gdpr as _gdpr  # noqa: F401 - registers the GDPR hooks
from hub.moderation.schemas import AuditPage, CaseOut, CasePage, ReportIn, ReportOut, ResolveIn
from hub.platform.auth import CurrentUser
from hub.platform.errors import forbidden
from hub.platform.pagination import Cursor, Limit


class ReportsController(Controller):
    path = "/reports"
    tags = ["moderation"]

    @post(
        "/",
        summary="Report a message, prompt, review or user",
        description="`{subject_type, subject_id, reason}`. Reports of one item collapse into one "
        "moderation queue entry while it is open; reporting it again returns your first report "
        "(200) instead of a new one (201). You cannot report yourself or your own items (422); "
        "items you cannot see are 404. At most 30 reports per hour (429).",
        responses={200: ResponseSpec(data_container=ReportOut, description="Already reported")},
    )
    async def report(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[ReportIn]
    ) -> Response[ReportOut]:
        out, created = await service.report(request.user, data)
        return Response(out, status_code=HTTP_201_CREATED if created else HTTP_200_OK)


class ModerationController(Controller):
    path = "/moderation/reports"
    tags = ["moderation"]

    @get(
        "/",
        summary="The moderation queue (moderators)",
        description="`status=open` (default): open cases, oldest first; `status=resolved`: "
        "resolved cases, most recent first. One entry per reported item with its report count "
        "and latest reasons. 403 for anyone but moderators and admins. Live on "
        "`moderation:reports`.",
    )
    async def queue(
        self,
        request: Request[CurrentUser, Any, Any],
        status: FromQuery[Literal["open", "resolved"]] = "open",
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> CasePage:
        service.require_moderator(request.user)
        return await service.list_cases(status, cursor, limit)

    @get("/{case_id:uuid}", summary="One queue entry (moderators)")
    async def case(
        self, request: Request[CurrentUser, Any, Any], case_id: FromPath[UUID]
    ) -> CaseOut:
        service.require_moderator(request.user)
        return await service.get_case(case_id)

    @post(
        "/{case_id:uuid}/resolve",
        status_code=HTTP_200_OK,
        summary="Resolve a queue entry: delete, ban for N minutes, or dismiss (moderators)",
        description="`{action: delete|ban|dismiss, reason, minutes?, delete?}`. `delete` removes "
        "the item (message deleted, prompt archived, review removed; a user cannot be deleted, "
        "422); `ban` suspends the item's author from posting anywhere in the community for "
        "`minutes` (and removes the item too with `delete: true`); `dismiss` closes it. Once "
        "per entry (409 after). Every resolution is written to the audit log.",
    )
    async def resolve(
        self,
        request: Request[CurrentUser, Any, Any],
        case_id: FromPath[UUID],
        data: JSONBody[ResolveIn],
    ) -> CaseOut:
        return await service.resolve(request.user, case_id, data)


AuditAction = Annotated[
    str | None, Parameter(max_length=32, description="only entries of this action")
]


class AuditLogController(Controller):
    path = "/admin/audit-log"
    tags = ["moderation"]

    @get(
        "/",
        summary="The moderation audit log (admins)",
        description="Every moderation action, newest first: who (`actor`), what (`action`, "
        "`subject_type`, `subject_id`, `target_user`, `details`), when (`created_at`) and why "
        "(`reason`). Actions: `report.delete`, `report.ban`, `report.dismiss`, "
        "`message.delete` (someone else's message), `room.ban`. 403 for anyone but admins.",
    )
    async def audit_log(
        self,
        request: Request[CurrentUser, Any, Any],
        action: AuditAction = None,
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> AuditPage:
        if not request.user.is_admin:
            raise forbidden("Only admins can read the audit log.")
        return await audit.list_entries(action, cursor, limit)


HANDLERS: list[Any] = [ReportsController, ModerationController, AuditLogController]
