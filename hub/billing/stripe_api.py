"""The Stripe client and the two payment problems, shared by top-ups and payouts."""

from __future__ import annotations

from typing import Any

import stripe

from hub.platform.errors import Problem
from hub.platform.settings import Settings


def not_configured(what: str) -> Problem:
    return Problem(
        503,
        "payments-not-configured",
        "Payments are not configured",
        f"Payments are not configured on this server (no Stripe keys are set), so {what} "
        "unavailable. New accounts still get starter credits.",
    )


def provider_error(detail: str) -> Problem:
    return Problem(502, "payment-provider", "Payment provider error", detail)


def client(settings: Settings, api_base: str, what: str) -> stripe.StripeClient:
    """An async-capable client (httpx), pointed at `api_base` when set (tests, proxies)."""
    if not settings.stripe_secret_key:
        raise not_configured(what)
    kwargs: dict[str, Any] = {"http_client": stripe.HTTPXClient()}
    if api_base:
        kwargs["base_addresses"] = {"api": api_base}
    return stripe.StripeClient(settings.stripe_secret_key, **kwargs)
