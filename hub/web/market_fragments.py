"""Fragments of the marketplace's depth: "more like this", "for you" (and, as they land,
receipts and subscriptions). Same conventions as hub.web.fragments: public fragments take an
optional token, personal ones require it."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from hub.auth import CurrentUser
from hub.billing import receipts
from hub.errors import not_found
from hub.oauth import providers as oauth_providers
from hub.oauth import service as oauth
from hub.recommendations import service as recommendations
from hub.web.render import fragment, page


class MarketPublicFragments(Controller):
    path = "/web"
    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @get("/prompts/{prompt_id:uuid}/similar")
    async def similar(self, prompt_id: uuid.UUID) -> Template:
        page_ = await recommendations.more_like_this(prompt_id, None, 6)
        return fragment("similar.html", items=page_.items)

    @get("/oauth-buttons")
    async def oauth_buttons(self) -> Template:
        return fragment(
            "oauth_buttons.html",
            providers=oauth_providers.configured(),
            labels=oauth_providers.LABELS,
        )


class MarketPages(Controller):
    """Pages at shareable URLs (public, like hub.web.pages)."""

    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @get("/auth/callback/{provider:str}")
    async def oauth_callback(self, provider: str) -> Template:
        """Where a provider sends the browser back; market.js finishes the sign-in."""
        label = oauth_providers.LABELS.get(provider, "a provider")
        return page("oauth_callback.html", provider=provider, label=label)

    @get("/receipts/{ref:str}")
    async def receipt_page(self, ref: str) -> Template:
        """Public shell; the receipt itself loads with the reader's token."""
        safe = ref if len(ref) <= 60 and all(c.isalnum() or c == "-" for c in ref) else "0"
        return page("receipt.html", ref=safe, active="/wallet")


class MarketPersonalFragments(Controller):
    path = "/web"
    include_in_schema = False

    @get("/for-you")
    async def for_you(self, request: Request[CurrentUser, Any, Any]) -> Template:
        page_ = await recommendations.for_you(request.user.id, 6)
        return fragment("for_you.html", page=page_)

    @get("/receipts/{ref:str}")
    async def receipt(self, request: Request[CurrentUser, Any, Any], ref: str) -> Template:
        transaction_id = await receipts.transaction_for(ref, request.user.id)
        if transaction_id is None:
            raise not_found("This receipt")
        return fragment("receipt.html", r=await receipts.receipt(transaction_id, request.user.id))

    @get("/identities")
    async def identities(self, request: Request[CurrentUser, Any, Any]) -> Template:
        return fragment(
            "identities.html",
            identities=await oauth.list_identities(request.user.id),
            providers=oauth_providers.configured(),
            labels=oauth_providers.LABELS,
        )


HANDLERS: list[Any] = [MarketPublicFragments, MarketPages, MarketPersonalFragments]
