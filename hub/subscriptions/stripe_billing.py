"""Stripe Billing calls (Customers, Products, Prices, Subscriptions), async, idempotent."""

from __future__ import annotations

from typing import Any

import stripe
import structlog

from hub.billing import stripe_api
from hub.platform.errors import Problem
from hub.platform.settings import get_settings

log = structlog.get_logger(__name__)


def _client() -> stripe.StripeClient:
    settings = get_settings()
    base = settings.stripe_billing_api_base or settings.stripe_api_base
    return stripe_api.client(settings, base, "subscriptions are")


def _failed(action: str, exc: Exception) -> Problem:
    log.warning("subscriptions.stripe_error", action=action, error=type(exc).__name__)
    return stripe_api.provider_error(
        f"The payment provider could not {action}; nothing was charged. Retry shortly."
    )


async def price_for(
    creator_id: str, handle: str, product_id: str | None, price_cents: int
) -> tuple[str, str]:
    """(product id, price id) of a monthly Price in USD. Prices are immutable at Stripe: a new
    price is a new Price (subscribers keep the one they subscribed at)."""
    client = _client()
    try:
        if product_id is None:
            product = await client.v1.products.create_async(
                params={
                    "name": f"@{handle} on BetterPrompt: monthly plan",
                    "metadata": {"creator_id": creator_id},
                },
                options={"idempotency_key": f"plan-product:{creator_id}"},
            )
            product_id = product.id
        price = await client.v1.prices.create_async(
            params={
                "product": product_id,
                "unit_amount": price_cents,
                "currency": "usd",
                "recurring": {"interval": "month"},
                "metadata": {"creator_id": creator_id},
            },
            options={"idempotency_key": f"plan-price:{creator_id}:{product_id}:{price_cents}"},
        )
    except stripe.StripeError as exc:
        raise _failed("set up this plan", exc) from exc
    return product_id, price.id


async def customer_for(user_id: str, email: str | None) -> str:
    client = _client()
    try:
        customer = await client.v1.customers.create_async(
            params={"email": email or "", "metadata": {"user_id": user_id}},
            options={"idempotency_key": f"customer:{user_id}"},
        )
    except stripe.StripeError as exc:
        raise _failed("start this subscription", exc) from exc
    return str(customer.id)


async def create_subscription(
    customer_id: str, price_id: str, metadata: dict[str, str], key: str
) -> dict[str, Any]:
    client = _client()
    try:
        sub = await client.v1.subscriptions.create_async(
            params={
                "customer": customer_id,
                "items": [{"price": price_id}],
                "payment_behavior": "default_incomplete",
                "payment_settings": {"save_default_payment_method": "on_subscription"},
                "expand": ["latest_invoice.payment_intent"],
                "metadata": metadata,
            },
            options={"idempotency_key": key},
        )
    except stripe.StripeError as exc:
        raise _failed("start this subscription", exc) from exc
    return sub.to_dict()


async def cancel_at_period_end(subscription_id: str) -> dict[str, Any]:
    client = _client()
    try:
        sub = await client.v1.subscriptions.update_async(
            subscription_id, params={"cancel_at_period_end": True}
        )
    except stripe.StripeError as exc:
        raise _failed("cancel this subscription", exc) from exc
    return sub.to_dict()


async def cancel_now(subscription_id: str) -> None:
    """End a subscription at Stripe at once (no further invoices). One Stripe does not know,
    or has ended already, counts as ended."""
    client = _client()
    try:
        await client.v1.subscriptions.cancel_async(subscription_id)
    except stripe.InvalidRequestError as exc:
        if getattr(exc, "http_status", None) == 404:
            return
        raise
