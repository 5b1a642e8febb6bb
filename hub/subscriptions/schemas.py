"""Subscription bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

PlanPrice = Annotated[int, msgspec.Meta(ge=100, le=100_000, description="Monthly price, cents.")]
RunsIncluded = Annotated[
    int, msgspec.Meta(ge=1, le=10_000, description="Runs of your prompts included per month.")
]


class PlanIn(msgspec.Struct, forbid_unknown_fields=True):
    price_cents: PlanPrice
    runs_included: RunsIncluded


class PlanOut(msgspec.Struct):
    creator_handle: str
    price_cents: int
    runs_included: int
    currency: str
    active: bool
    subscriber_count: int
    updated_at: datetime


class SubscriptionOut(msgspec.Struct):
    id: str
    creator_handle: str | None
    subscriber_handle: str | None
    status: Literal["incomplete", "active", "past_due", "canceled"]
    price_cents: int
    runs_included: int
    # Runs of this period that were covered (failed runs do not count).
    runs_used: int
    # Whether a run of the creator's prompts is covered right now.
    covered: bool
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    grace_until: datetime | None
    created_at: datetime


class SubscriptionPage(msgspec.Struct):
    items: list[SubscriptionOut]
    next_cursor: str | None = None


class SubscribeOut(msgspec.Struct):
    """Confirm the first invoice's payment with Stripe.js (`client_secret`); the subscription
    becomes active when Stripe reports the invoice paid (webhook), never on the client's word."""

    subscription: SubscriptionOut
    payment_intent_id: str | None
    client_secret: str | None
