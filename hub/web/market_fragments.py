"""Fragments of the marketplace's depth: "more like this", "for you" (and, as they land,
receipts and subscriptions). Same conventions as hub.web.fragments: public fragments take an
optional token, personal ones require it."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from hub.auth import CurrentUser
from hub.recommendations import service as recommendations
from hub.web.render import fragment


class MarketPublicFragments(Controller):
    path = "/web"
    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @get("/prompts/{prompt_id:uuid}/similar")
    async def similar(self, prompt_id: uuid.UUID) -> Template:
        page_ = await recommendations.more_like_this(prompt_id, None, 6)
        return fragment("similar.html", items=page_.items)


class MarketPersonalFragments(Controller):
    path = "/web"
    include_in_schema = False

    @get("/for-you")
    async def for_you(self, request: Request[CurrentUser, Any, Any]) -> Template:
        page_ = await recommendations.for_you(request.user.id, 6)
        return fragment("for_you.html", page=page_)


HANDLERS: list[Any] = [MarketPublicFragments, MarketPersonalFragments]
