"""Fragments of the marketplace's depth: "more like this", "for you" (and, as they land,
receipts and subscriptions). Same conventions as hub.web.fragments: public fragments take an
optional token, personal ones require it."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Template

from hub.billing import receipts
from hub.media import api as media_api
from hub.media import service as media_service
from hub.oauth import providers as oauth_providers
from hub.oauth import service as oauth
from hub.platform.auth import CurrentUser
from hub.platform.errors import Problem, not_found
from hub.platform.settings import get_settings
from hub.prompts import samples as prompt_samples
from hub.prompts import service as prompts
from hub.recommendations import service as recommendations
from hub.subscriptions import service as subscriptions
from hub.subscriptions.schemas import PlanIn
from hub.web.fragments import Form, _decode
from hub.web.render import fragment, page


class MarketPublicFragments(Controller):
    path = "/web"
    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @get("/prompts/{prompt_id:uuid}/similar")
    async def similar(self, prompt_id: FromPath[uuid.UUID]) -> Template:
        page_ = await recommendations.more_like_this(prompt_id, None, 6)
        return fragment("similar.html", items=page_.items)

    @get("/oauth-buttons")
    async def oauth_buttons(self) -> Template:
        return fragment(
            "oauth_buttons.html",
            providers=oauth_providers.configured(),
            labels=oauth_providers.LABELS,
        )

    @get("/creators/{handle:str}/plan")
    async def plan(self, handle: FromPath[str]) -> Template:
        try:
            plan = await subscriptions.plan_of(handle)
        except Problem:
            plan = None
        return fragment("plan.html", plan=plan, handle=handle)


class MarketPages(Controller):
    """Pages at shareable URLs (public, like hub.web.pages)."""

    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @get("/auth/callback/{provider:str}")
    async def oauth_callback(self, provider: FromPath[str]) -> Template:
        """Where a provider sends the browser back; market.js finishes the sign-in."""
        label = oauth_providers.LABELS.get(provider, "a provider")
        return page("oauth_callback.html", provider=provider, label=label)

    @get("/receipts/{ref:str}")
    async def receipt_page(self, ref: FromPath[str]) -> Template:
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
    async def receipt(
        self, request: Request[CurrentUser, Any, Any], ref: FromPath[str]
    ) -> Template:
        transaction_id = await receipts.transaction_for(ref, request.user.id)
        if transaction_id is None:
            raise not_found("This receipt")
        return fragment("receipt.html", r=await receipts.receipt(transaction_id, request.user.id))

    @get("/creators/{handle:str}/subscription")
    async def subscription(
        self, request: Request[CurrentUser, Any, Any], handle: FromPath[str]
    ) -> Template:
        return await _subscription_fragment(request.user.id, handle)

    @post("/creators/{handle:str}/subscribe", status_code=200)
    async def subscribe(
        self, request: Request[CurrentUser, Any, Any], handle: FromPath[str]
    ) -> Template:
        started = await subscriptions.subscribe(request.user.id, handle, None)
        return await _subscription_fragment(request.user.id, handle, pay=started)

    @post("/subscriptions/{subscription_id:uuid}/cancel", status_code=200)
    async def cancel(
        self, request: Request[CurrentUser, Any, Any], subscription_id: FromPath[uuid.UUID]
    ) -> Template:
        sub = await subscriptions.cancel(request.user.id, subscription_id)
        return await _subscription_fragment(request.user.id, sub.creator_handle or "")

    @get("/plan")
    async def my_plan(self, request: Request[CurrentUser, Any, Any]) -> Template:
        return await _my_plan(request.user.id)

    @post("/plan", status_code=200)
    async def set_plan(self, request: Request[CurrentUser, Any, Any], data: Form) -> Template:
        body = _decode(PlanIn, dict(data))
        await subscriptions.set_plan(request.user.id, body.price_cents, body.runs_included)
        return await _my_plan(request.user.id)

    @get("/prompts/{prompt_id:uuid}/sample-images")
    async def sample_images(
        self, request: Request[CurrentUser, Any, Any], prompt_id: FromPath[uuid.UUID]
    ) -> Template:
        return await _sample_images(prompt_id, request.user.id)

    @post(
        "/prompts/{prompt_id:uuid}/samples/{sample_id:uuid}/media",
        status_code=200,
        request_max_body_size=media_api._BODY_CEILING,
    )
    async def add_sample_image(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[uuid.UUID],
        sample_id: FromPath[uuid.UUID],
        data: Annotated[media_api.MediaUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Template:
        content = await data.image.read(get_settings().media_max_bytes + 1)
        await media_service.add_media(
            prompt_id, sample_id, request.user.id, content, data.alt or ""
        )
        return await _sample_images(prompt_id, request.user.id, "Image added.")

    @delete(
        "/prompts/{prompt_id:uuid}/samples/{sample_id:uuid}/media/{media_id:uuid}", status_code=200
    )
    async def remove_sample_image(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[uuid.UUID],
        sample_id: FromPath[uuid.UUID],
        media_id: FromPath[uuid.UUID],
    ) -> Template:
        await media_service.delete_media(prompt_id, sample_id, media_id, request.user.id)
        return await _sample_images(prompt_id, request.user.id, "Image removed.")

    @get("/identities")
    async def identities(self, request: Request[CurrentUser, Any, Any]) -> Template:
        return fragment(
            "identities.html",
            identities=await oauth.list_identities(request.user.id),
            providers=oauth_providers.configured(),
            labels=oauth_providers.LABELS,
        )


async def _subscription_fragment(user_id: str, handle: str, pay: Any = None) -> Template:
    settings = get_settings()
    try:
        plan = await subscriptions.plan_of(handle)
    except Problem:
        plan = None
    sub = await subscriptions.with_creator(user_id, handle) if handle else None
    own = plan is not None and sub is None and await _is_handle(user_id, handle)
    return fragment(
        "subscription.html",
        plan=plan,
        sub=sub,
        own=own,
        handle=handle,
        pay=pay
        if pay is not None and pay.client_secret and settings.stripe_publishable_key
        else None,
        stripe_key=settings.stripe_publishable_key,
        stripe_js=settings.stripe_js_url,
    )


async def _sample_images(prompt_id: uuid.UUID, user_id: str, notice: str = "") -> Template:
    """The owner's image tools for each sample; nothing for anyone else."""
    row = await prompts.visible_prompt_row(prompt_id, user_id)
    samples = []
    if str(row["owner_id"]) == user_id:
        samples = (await prompt_samples.list_samples(prompt_id, user_id, None, 20)).items
    return fragment(
        "sample_images.html",
        samples=samples,
        prompt_id=str(prompt_id),
        notice=notice,
        max_mb=get_settings().media_max_bytes // (1024 * 1024),
    )


async def _is_handle(user_id: str, handle: str) -> bool:
    from hub.platform.db import fetchrow

    row = await fetchrow(
        "SELECT 1 FROM users WHERE id = $1 AND lower(handle) = lower($2)",
        uuid.UUID(user_id),
        handle,
    )
    return row is not None


async def _my_plan(user_id: str) -> Template:
    from hub.platform.db import fetchrow

    me = await fetchrow("SELECT handle FROM users WHERE id = $1", uuid.UUID(user_id))
    try:
        plan = await subscriptions.plan_of(me["handle"]) if me else None
    except Problem:
        plan = None
    return fragment("my_plan.html", plan=plan, subscribers=await subscriptions.subscribers(user_id))


HANDLERS: list[Any] = [MarketPublicFragments, MarketPages, MarketPersonalFragments]
