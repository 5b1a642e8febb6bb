"""Recommendation routes."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get
from litestar.params import FromPath, Parameter

from hub.platform.auth import CurrentUser, Viewer
from hub.recommendations import service
from hub.recommendations.schemas import ForYouPage, SimilarPage

# Not a paged list (no cursor): the best-first head of a list the worker precomputes, so its
# own bounds (hub.platform.pagination's Limit is for paged lists).
HowMany = Annotated[int, Parameter(ge=1, le=24, description="How many (default 6, at most 24).")]


class SimilarController(Controller):
    path = "/prompts/{prompt_id:uuid}/similar"
    tags = ["recommendations"]

    @get(
        "/",
        exclude_from_auth=True,
        summary="More like this",
        description="Prompts like this one, best first: shared tags, similar words (title, "
        "tags, description; never a template) and people who ran this also ran. Precomputed "
        "by a worker job, so a new prompt has none for a few minutes. Only active prompts.",
    )
    async def similar(
        self, viewer: Viewer, prompt_id: FromPath[UUID], limit: HowMany = 6
    ) -> SimilarPage:
        return await service.more_like_this(prompt_id, viewer.id if viewer else None, limit)


class ForYouController(Controller):
    path = "/me/recommendations"
    tags = ["recommendations"]

    @get(
        "/",
        summary="For you",
        description="Prompts picked for you from the creators you follow and the prompts you "
        "ran (never your own, never ones you already ran), with why (`because`). Until the "
        "worker has computed your list: this week's popular prompts (`reason: popular`).",
    )
    async def for_you(
        self, request: Request[CurrentUser, Any, Any], limit: HowMany = 6
    ) -> ForYouPage:
        return await service.for_you(request.user.id, limit)


HANDLERS: list[Any] = [SimilarController, ForYouController]
