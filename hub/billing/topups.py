"""Wallet top-ups through Stripe, and the Stripe webhook (top-ups and Connect accounts).

A PaymentIntent per top-up, credited only by the webhook.

The client's word never moves money: `POST /me/wallet/topups` only creates the PaymentIntent
(and remembers it); the wallet is credited when Stripe's signed `payment_intent.succeeded`
arrives, as one ledger transaction `stripe_clearing -X, wallet +X`. Each event id is applied
at most once (`stripe_events`), and each PaymentIntent is credited at most once (the ledger's
unique `ref` plus `topups.transaction_id`), so replayed or duplicated webhooks change nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import stripe
import structlog

from hub import outbox
from hub.billing import ledger, stripe_api
from hub.billing.schemas import TopupOut, WebhookOut
from hub.billing.wallets import publish_wallet
from hub.platform.db import fetchrow
from hub.platform.errors import Problem, bad_request, validation_error
from hub.platform.settings import get_settings

log = structlog.get_logger(__name__)

MIN_TOPUP_CENTS = 500
MAX_TOPUP_CENTS = 50_000


def _client() -> stripe.StripeClient:
    settings = get_settings()
    return stripe_api.client(settings, settings.stripe_api_base, "top-ups are")


async def create_topup(user_id: str, amount_cents: int, idempotency_key: str | None) -> TopupOut:
    """Create (or, for a repeated Idempotency-Key, return) the PaymentIntent of a top-up."""
    if not MIN_TOPUP_CENTS <= amount_cents <= MAX_TOPUP_CENTS:
        raise bad_request(
            f"amount_cents must be between {MIN_TOPUP_CENTS} and {MAX_TOPUP_CENTS}.", "amount_cents"
        )
    client = _client()
    uid = uuid.UUID(user_id)
    if idempotency_key:
        earlier = await _by_key(uid, idempotency_key)
        if earlier is not None:
            return await _replay(client, earlier, amount_cents)
    options: stripe.RequestOptions = {}
    if idempotency_key:  # Stripe dedupes too, so concurrent retries share one PaymentIntent
        options["idempotency_key"] = f"topup:{user_id}:{idempotency_key}"
    try:
        # No `payment_method_types`: the API version this client speaks (2026-10-28.endive)
        # refuses it with a 400; cards come from the account's dynamic payment methods.
        intent = await client.v1.payment_intents.create_async(
            params={
                "amount": amount_cents,
                "currency": "usd",
                "metadata": {"user_id": user_id, "purpose": "wallet_topup"},
            },
            options=options,
        )
    except stripe.StripeError as exc:
        raise _provider_error(user_id, exc) from exc
    row = await fetchrow(
        "INSERT INTO topups (payment_intent_id, user_id, amount_cents, idempotency_key) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING payment_intent_id",
        intent.id,
        uid,
        amount_cents,
        idempotency_key,
    )
    if row is None and idempotency_key:  # a concurrent retry won; its intent is the top-up
        earlier = await _by_key(uid, idempotency_key)
        if earlier is not None:
            return await _replay(client, earlier, amount_cents)
    log.info("topup.created", user_id=user_id, payment_intent=intent.id, amount_cents=amount_cents)
    return TopupOut(
        payment_intent_id=intent.id,
        client_secret=intent.client_secret or "",
        amount_cents=amount_cents,
    )


async def _by_key(uid: uuid.UUID, key: str) -> dict[str, Any] | None:
    return await fetchrow(
        "SELECT payment_intent_id, amount_cents FROM topups WHERE user_id = $1 AND idempotency_key = $2",
        uid,
        key,
    )


async def _replay(
    client: stripe.StripeClient, earlier: dict[str, Any], amount_cents: int
) -> TopupOut:
    if int(earlier["amount_cents"]) != amount_cents:
        raise validation_error(
            "amount_cents",
            "This Idempotency-Key was used for a top-up of another amount; use a new key.",
        )
    try:
        intent = await client.v1.payment_intents.retrieve_async(earlier["payment_intent_id"])
    except stripe.StripeError as exc:
        raise _provider_error("", exc) from exc
    return TopupOut(
        payment_intent_id=intent.id,
        client_secret=intent.client_secret or "",
        amount_cents=amount_cents,
    )


def _provider_error(user_id: str, exc: Exception) -> Problem:
    log.warning("topup.stripe_error", user_id=user_id, error=type(exc).__name__)
    return stripe_api.provider_error(
        "The payment provider could not start this top-up; nothing was charged. Retry shortly."
    )


async def handle_webhook(payload: bytes, signature: str | None) -> WebhookOut:
    settings = get_settings()
    if not settings.stripe_webhook_secret:
        raise stripe_api.not_configured("top-ups are")
    try:
        event = stripe.Webhook.construct_event(payload, signature, settings.stripe_webhook_secret)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise bad_request(
            "Invalid Stripe-Signature or payload; the event was not applied."
        ) from exc
    credited_user: str | None = None
    applied = False
    async with outbox.transaction():
        first = await fetchrow(
            "INSERT INTO stripe_events (event_id, type) VALUES ($1, $2) "
            "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            event.id,
            event.type,
        )
        if first is None:
            return WebhookOut(received=True, applied=False)  # a replay: already applied
        obj = event.data.object.to_dict()
        if event.type == "payment_intent.succeeded":
            credited_user = await _credit(obj)
            applied = credited_user is not None
        elif event.type == "payment_intent.payment_failed":
            applied = bool(
                await fetchrow(
                    "UPDATE topups SET status = 'failed', updated_at = now() "
                    "WHERE payment_intent_id = $1 AND status = 'pending' RETURNING 1",
                    obj["id"],
                )
            )
        elif event.type == "account.updated":
            from hub.billing.payouts import on_account_updated

            applied = await on_account_updated(obj)
        elif event.type.startswith(("invoice.", "customer.subscription.")):
            from hub.subscriptions.webhooks import apply as apply_subscription_event

            applied = await apply_subscription_event(event.type, obj)
        if credited_user is not None:
            await publish_wallet(credited_user)
    return WebhookOut(received=True, applied=applied)


async def _credit(intent: Any) -> str | None:
    topup = await fetchrow(
        "SELECT user_id, amount_cents, status FROM topups WHERE payment_intent_id = $1 FOR UPDATE",
        intent["id"],
    )
    if topup is None or topup["status"] == "succeeded":
        return None  # not one of ours, or already credited by another event
    received = int(intent.get("amount_received") or intent.get("amount") or 0)
    if str(intent.get("currency", "")).lower() != "usd" or received != int(topup["amount_cents"]):
        await fetchrow(
            "UPDATE topups SET status = 'mismatch', updated_at = now() WHERE payment_intent_id = $1 "
            "RETURNING 1",
            intent["id"],
        )
        log.error("topup.amount_mismatch", payment_intent=intent["id"], received=received)
        return None
    user_id = str(topup["user_id"])
    amount = int(topup["amount_cents"])
    accounts = await ledger.user_accounts(user_id, ["wallet"])
    tx_id = await ledger.post(
        "topup",
        f"topup:{intent['id']}",
        [(await ledger.platform_account("stripe_clearing"), -amount), (accounts["wallet"], amount)],
        memo="Wallet top-up (card)",
    )
    await fetchrow(
        "UPDATE topups SET status = 'succeeded', transaction_id = $2, updated_at = now() "
        "WHERE payment_intent_id = $1 RETURNING 1",
        intent["id"],
        tx_id,
    )
    log.info("topup.credited", user_id=user_id, payment_intent=intent["id"], amount_cents=amount)
    return user_id
