"""Moderation on the web: the report queue for moderators, the audit log for admins.

Reporting itself needs no fragment: the "Report" buttons on messages, prompts, reviews and
profiles open one dialog (base.html) that posts to `POST /api/v1/reports`. The queue is a
fragment like every personal part; it does not re-render itself when a report arrives (that
would wipe a decision being typed): the page says that the queue changed and offers to
refresh it (static/web/app.js, `[data-mod-queue]`, on `moderation:reports`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, FromQuery, Parameter
from litestar.response import Template

from hub.moderation import audit
from hub.moderation import service as moderation
from hub.moderation.schemas import ResolveIn
from hub.platform.auth import CurrentUser
from hub.platform.errors import forbidden
from hub.web.fragments import Form, PageCursor, _decode
from hub.web.render import fragment, page

Status = Literal["open", "resolved"]
ACTIONS = {
    "report.delete": "Removed a reported item",
    "report.ban": "Suspended after a report",
    "report.dismiss": "Dismissed a report",
    "message.delete": "Deleted someone's message",
    "room.ban": "Banned from a room",
}


class ModerationPages(Controller):
    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @get("/moderation", name="moderation")
    async def queue(self, status: FromQuery[Status] = "open") -> Template:
        return page("moderation.html", active="/moderation", status=status)

    @get("/admin/audit-log", name="audit_log")
    async def audit_log(
        self, action: Annotated[str | None, Parameter(max_length=32, required=False)] = None
    ) -> Template:
        return page(
            "audit_log.html",
            active="/admin",
            action=action if action in ACTIONS else "",
            actions=ACTIONS,
        )


class ModerationFragments(Controller):
    path = "/web"
    include_in_schema = False
    cache_control = CacheControlHeader(no_store=True)

    @get("/moderation")
    async def queue(
        self,
        request: Request[CurrentUser, Any, Any],
        status: FromQuery[Status] = "open",
        cursor: PageCursor = None,
    ) -> Template:
        moderation.require_moderator(request.user)
        cases = await moderation.list_cases(status, cursor, 20)
        name = "moderation_cases.html" if cursor else "moderation_queue.html"
        return fragment(name, page=cases, status=status)

    @post("/moderation/{case_id:uuid}/resolve", status_code=200)
    async def resolve(
        self, request: Request[CurrentUser, Any, Any], case_id: FromPath[uuid.UUID], data: Form
    ) -> Template:
        body: dict[str, Any] = {
            "action": data.get("action", ""),
            "reason": data.get("reason", "").strip(),
            "delete": bool(data.get("delete")) and data.get("action") == "ban",
        }
        if data.get("action") == "ban":
            body["minutes"] = data.get("minutes") or None
        decision = _decode(
            ResolveIn,
            body,
            {"action": "Decision", "reason": "Reason", "minutes": "Minutes"},
        )
        case = await moderation.resolve(request.user, case_id, decision)
        template = fragment("moderation_case.html", c=case, notice="Resolved.")
        template.headers["HX-Retarget"] = f"#case-{case.id}"
        template.headers["HX-Reswap"] = "outerHTML"
        return template

    @get("/admin/audit-log")
    async def audit_log(
        self,
        request: Request[CurrentUser, Any, Any],
        action: Annotated[str | None, Parameter(max_length=32, required=False)] = None,
        cursor: PageCursor = None,
    ) -> Template:
        if not request.user.is_admin:
            raise forbidden("Only admins can read the audit log.")
        entries = await audit.list_entries(action or None, cursor, 30)
        name = "audit_rows.html" if cursor else "audit_log.html"
        return fragment(name, page=entries, actions=ACTIONS, action=action or "")


HANDLERS: list[Any] = [ModerationPages, ModerationFragments]
