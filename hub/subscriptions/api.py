"""Subscription routes."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromPath, HeaderParameter, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from hub.platform.auth import CurrentUser
from hub.subscriptions import service
from hub.subscriptions.schemas import (
    PlanIn,
    PlanOut,
    SubscribeOut,
    SubscriptionOut,
    SubscriptionPage,
)

Handle = Annotated[str, Parameter(max_length=30, pattern=r"^[A-Za-z0-9_]+$")]
IdempotencyKey = Annotated[
    str | None, HeaderParameter(name="Idempotency-Key", max_length=200, required=False)
]


class CreatorPlanController(Controller):
    path = "/creator/plan"
    tags = ["subscriptions"]

    @put(
        "/",
        summary="Offer (or change) my monthly plan",
        description="One plan per creator: a monthly price and the runs of your prompts it "
        "includes. A new price is a new Stripe Price: current subscribers keep theirs. 503 "
        "without Stripe keys.",
    )
    async def set_plan(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[PlanIn]
    ) -> PlanOut:
        return await service.set_plan(request.user.id, data.price_cents, data.runs_included)

    @delete(
        "/",
        status_code=HTTP_204_NO_CONTENT,
        summary="Stop offering my plan",
        description="No new subscribers; current ones keep their subscription until they cancel.",
    )
    async def end_plan(self, request: Request[CurrentUser, Any, Any]) -> None:
        await service.end_plan(request.user.id)

    @get("/subscribers", summary="My subscribers")
    async def subscribers(self, request: Request[CurrentUser, Any, Any]) -> SubscriptionPage:
        return SubscriptionPage(items=await service.subscribers(request.user.id))


class CreatorSubscribeController(Controller):
    path = "/creators/{handle:str}"
    tags = ["subscriptions"]

    @get("/plan", exclude_from_auth=True, summary="A creator's monthly plan")
    async def plan(self, handle: FromPath[Handle]) -> PlanOut:
        return await service.plan_of(handle)

    @post(
        "/subscribe",
        status_code=HTTP_201_CREATED,
        summary="Subscribe to a creator's plan",
        description="Creates a Stripe Subscription on the plan's Price (`default_incomplete`) "
        "and answers the first invoice's `client_secret` for Stripe.js. The subscription is "
        "`incomplete` until Stripe reports the invoice paid. 409 `already-subscribed`; 422 "
        "for your own plan; 404 without an active plan.",
    )
    async def subscribe(
        self,
        request: Request[CurrentUser, Any, Any],
        handle: FromPath[Handle],
        idempotency_key: IdempotencyKey = None,
    ) -> SubscribeOut:
        return await service.subscribe(request.user.id, handle, idempotency_key)

    @get("/subscription", summary="My subscription to this creator, if any")
    async def mine(
        self, request: Request[CurrentUser, Any, Any], handle: FromPath[Handle]
    ) -> SubscriptionPage:
        sub = await service.with_creator(request.user.id, handle)
        return SubscriptionPage(items=[sub] if sub else [])


class MySubscriptionsController(Controller):
    path = "/me/subscriptions"
    tags = ["subscriptions"]

    @get("/", summary="My subscriptions")
    async def mine(self, request: Request[CurrentUser, Any, Any]) -> SubscriptionPage:
        return SubscriptionPage(items=await service.mine(request.user.id))

    @post(
        "/{subscription_id:uuid}/cancel",
        status_code=HTTP_200_OK,
        summary="Cancel at the end of the period",
        description="Runs stay covered until the period ends; nothing is refunded. 409 when "
        "it has already ended.",
    )
    async def cancel(
        self, request: Request[CurrentUser, Any, Any], subscription_id: FromPath[UUID]
    ) -> SubscriptionOut:
        return await service.cancel(request.user.id, subscription_id)


HANDLERS: list[Any] = [CreatorPlanController, CreatorSubscribeController, MySubscriptionsController]
