"""Leak guard routes (thin): a prompt's record for its creator, the admin overview."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get
from litestar.params import FromPath

from hub.platform.auth import CurrentUser
from hub.platform.errors import forbidden
from hub.platform.pagination import Cursor, Limit
from hub.runs import incidents
from hub.runs.schemas import LeakGuardPromptPage, LeakGuardRuns


class PromptLeakGuardController(Controller):
    path = "/prompts"
    tags = ["prompts"]

    @get(
        "/{prompt_id:uuid}/leak-guard",
        summary="A prompt's leak guard record (creator or admin)",
        description="Whether new runs are guarded, how many spans of template text the guard "
        "has hidden from the prompt's runs, and a page of those runs, newest first. Never the "
        "hidden text.",
    )
    async def prompt_record(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[UUID],
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> LeakGuardRuns:
        user = request.user
        return await incidents.prompt_runs(prompt_id, user.id, user.is_admin, cursor, limit)


class AdminLeakGuardController(Controller):
    path = "/admin/leak-guard"
    tags = ["prompts"]

    @get(
        "/",
        summary="Prompts whose runs had template text hidden (admin)",
        description="Most incidents first. `GET /prompts/{id}/leak-guard` lists the runs.",
    )
    async def overview(
        self, request: Request[CurrentUser, Any, Any], cursor: Cursor = None, limit: Limit = 20
    ) -> LeakGuardPromptPage:
        if not request.user.is_admin:
            raise forbidden("Only admins can see the leak guard overview.")
        return await incidents.admin_prompts(cursor, limit)


HANDLERS: list[Any] = [PromptLeakGuardController, AdminLeakGuardController]
