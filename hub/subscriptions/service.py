"""Plans and subscriptions: what creators offer and what buyers hold.

State comes from Stripe's webhooks (hub.subscriptions.webhooks), never from the client: a
subscription starts `incomplete` and becomes `active` when its first invoice is paid.
Cancelling sets `cancel_at_period_end` at Stripe; coverage lasts until the period ends.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import structlog

from hub import outbox
from hub.platform.db import fetch, fetchrow
from hub.platform.errors import Problem, conflict, not_found, validation_error
from hub.subscriptions import coverage, stripe_billing
from hub.subscriptions.schemas import PlanOut, SubscribeOut, SubscriptionOut

log = structlog.get_logger(__name__)


def _ts(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


async def _creator(handle: str) -> dict[str, Any]:
    row = await fetchrow(
        "SELECT id, handle FROM users WHERE lower(handle) = lower($1) AND deleted_at IS NULL",
        handle,
    )
    if row is None:
        raise not_found("This creator")
    return row


async def _plan_out(creator_id: uuid.UUID) -> PlanOut | None:
    row = await fetchrow(
        "SELECT p.*, u.handle, (SELECT count(*) FROM subscriptions s WHERE s.creator_id = "
        "p.creator_id AND s.status IN ('active', 'past_due')) AS subscribers "
        "FROM subscription_plans p JOIN users u ON u.id = p.creator_id WHERE p.creator_id = $1",
        creator_id,
    )
    if row is None:
        return None
    return PlanOut(
        creator_handle=row["handle"],
        price_cents=row["price_cents"],
        runs_included=row["runs_included"],
        currency="usd",
        active=row["active"],
        subscriber_count=int(row["subscribers"]),
        updated_at=row["updated_at"],
    )


async def set_plan(creator_id: str, price_cents: int, runs_included: int) -> PlanOut:
    """Create or change the creator's plan. A new price is a new Stripe Price; people already
    subscribed keep what they signed up for."""
    cid = uuid.UUID(creator_id)
    user = await fetchrow("SELECT handle FROM users WHERE id = $1", cid)
    assert user is not None
    current = await fetchrow("SELECT * FROM subscription_plans WHERE creator_id = $1", cid)
    product_id = current["stripe_product_id"] if current else None
    if current and current["price_cents"] == price_cents:
        price_id = current["stripe_price_id"]
    else:
        product_id, price_id = await stripe_billing.price_for(
            creator_id, user["handle"], product_id, price_cents
        )
    await fetch(
        "INSERT INTO subscription_plans (creator_id, price_cents, runs_included, "
        "stripe_product_id, stripe_price_id) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (creator_id) DO UPDATE SET price_cents = $2, runs_included = $3, "
        "stripe_product_id = $4, stripe_price_id = $5, active = true, updated_at = now()",
        cid,
        price_cents,
        runs_included,
        product_id,
        price_id,
    )
    log.info("subscriptions.plan_set", creator_id=creator_id, price_cents=price_cents)
    plan = await _plan_out(cid)
    assert plan is not None
    return plan


async def end_plan(creator_id: str) -> None:
    """No new subscribers; current ones keep their subscription until they cancel."""
    await fetch(
        "UPDATE subscription_plans SET active = false, updated_at = now() WHERE creator_id = $1",
        uuid.UUID(creator_id),
    )


async def plan_of(handle: str) -> PlanOut:
    creator = await _creator(handle)
    plan = await _plan_out(creator["id"])
    if plan is None or not plan.active:
        raise not_found("This creator's plan")
    return plan


async def subscription_out(row: dict[str, Any]) -> SubscriptionOut:
    used = await coverage.runs_used(row["id"], row["current_period_start"])
    names = await fetchrow(
        "SELECT (SELECT handle FROM users WHERE id = $1 AND deleted_at IS NULL) AS creator, "
        "(SELECT handle FROM users WHERE id = $2 AND deleted_at IS NULL) AS subscriber",
        row["creator_id"],
        row["subscriber_id"],
    )
    return SubscriptionOut(
        id=str(row["id"]),
        creator_handle=names["creator"] if names else None,
        subscriber_handle=names["subscriber"] if names else None,
        status=row["status"],
        price_cents=row["price_cents"],
        runs_included=row["runs_included"],
        runs_used=used,
        covered=coverage.is_live(row) and used < row["runs_included"],
        current_period_start=row["current_period_start"],
        current_period_end=row["current_period_end"],
        cancel_at_period_end=row["cancel_at_period_end"],
        grace_until=row["grace_until"],
        created_at=row["created_at"],
    )


async def subscribe(subscriber_id: str, handle: str, key: str | None) -> SubscribeOut:
    creator = await _creator(handle)
    sid = uuid.UUID(subscriber_id)
    if creator["id"] == sid:
        raise validation_error("handle", "You cannot subscribe to your own plan.")
    plan = await fetchrow(
        "SELECT * FROM subscription_plans WHERE creator_id = $1 AND active", creator["id"]
    )
    if plan is None:
        raise not_found("This creator's plan")
    live = await fetchrow(
        "SELECT * FROM subscriptions WHERE subscriber_id = $1 AND creator_id = $2 "
        "AND status <> 'canceled'",
        sid,
        creator["id"],
    )
    if live is not None:
        raise Problem(
            409,
            "already-subscribed",
            "Conflict",
            f"You already have a subscription to @{creator['handle']} ({live['status']}).",
            subscription_id=str(live["id"]),
        )
    customer = await fetchrow(
        "SELECT stripe_customer_id FROM billing_customers WHERE user_id = $1", sid
    )
    if customer is None:
        email = await fetchrow("SELECT email FROM users WHERE id = $1", sid)
        customer_id = await stripe_billing.customer_for(
            subscriber_id, email["email"] if email else None
        )
        await fetch(
            "INSERT INTO billing_customers (user_id, stripe_customer_id) VALUES ($1, $2) "
            "ON CONFLICT (user_id) DO NOTHING",
            sid,
            customer_id,
        )
    else:
        customer_id = customer["stripe_customer_id"]
    # A retried request (same attempt) reuses Stripe's answer; a new attempt after an ended
    # subscription gets a new key.
    earlier = await fetchrow(
        "SELECT count(*) AS n FROM subscriptions WHERE subscriber_id = $1 AND creator_id = $2",
        sid,
        creator["id"],
    )
    attempt = int(earlier["n"]) if earlier else 0
    sub = await stripe_billing.create_subscription(
        customer_id,
        plan["stripe_price_id"],
        {"subscriber_id": subscriber_id, "creator_id": str(creator["id"])},
        f"subscribe:{subscriber_id}:{creator['id']}:{attempt}:{key or plan['stripe_price_id']}",
    )
    row = await fetchrow(
        "INSERT INTO subscriptions (subscriber_id, creator_id, stripe_subscription_id, "
        "price_cents, runs_included, status, current_period_start, current_period_end) "
        "VALUES ($1, $2, $3, $4, $5, 'incomplete', $6, $7) "
        "ON CONFLICT (stripe_subscription_id) DO UPDATE SET updated_at = now() RETURNING *",
        sid,
        creator["id"],
        sub["id"],
        plan["price_cents"],
        plan["runs_included"],
        _ts(sub["current_period_start"]),
        _ts(sub["current_period_end"]),
    )
    assert row is not None
    latest_invoice = sub.get("latest_invoice")
    invoice: dict[str, Any] = latest_invoice if isinstance(latest_invoice, dict) else {}
    payment_intent = invoice.get("payment_intent")
    intent: dict[str, Any] = payment_intent if isinstance(payment_intent, dict) else {}
    log.info("subscriptions.started", subscription_id=str(row["id"]), creator_id=str(creator["id"]))
    return SubscribeOut(
        subscription=await subscription_out(row),
        payment_intent_id=intent.get("id"),
        client_secret=intent.get("client_secret"),
    )


async def mine(user_id: str) -> list[SubscriptionOut]:
    rows = await fetch(
        "SELECT * FROM subscriptions WHERE subscriber_id = $1 "
        "ORDER BY (status = 'canceled'), created_at DESC LIMIT 100",
        uuid.UUID(user_id),
    )
    return [await subscription_out(r) for r in rows]


async def subscribers(creator_id: str) -> list[SubscriptionOut]:
    rows = await fetch(
        "SELECT * FROM subscriptions WHERE creator_id = $1 AND status <> 'incomplete' "
        "ORDER BY (status = 'canceled'), created_at DESC LIMIT 100",
        uuid.UUID(creator_id),
    )
    return [await subscription_out(r) for r in rows]


async def with_creator(user_id: str, handle: str) -> SubscriptionOut | None:
    creator = await _creator(handle)
    row = await fetchrow(
        "SELECT * FROM subscriptions WHERE subscriber_id = $1 AND creator_id = $2 "
        "ORDER BY (status = 'canceled'), created_at DESC LIMIT 1",
        uuid.UUID(user_id),
        creator["id"],
    )
    return await subscription_out(row) if row else None


async def cancel(user_id: str, subscription_id: uuid.UUID) -> SubscriptionOut:
    row = await fetchrow(
        "SELECT * FROM subscriptions WHERE id = $1 AND subscriber_id = $2",
        subscription_id,
        uuid.UUID(user_id),
    )
    if row is None:
        raise not_found("This subscription")
    if row["status"] == "canceled":
        raise conflict("This subscription has already ended.", "subscription-ended")
    if not row["cancel_at_period_end"]:
        await stripe_billing.cancel_at_period_end(row["stripe_subscription_id"])
        # Stripe confirms with customer.subscription.updated; we record the request at once
        # so the page says what will happen.
        row = await fetchrow(
            "UPDATE subscriptions SET cancel_at_period_end = true, updated_at = now() "
            "WHERE id = $1 RETURNING *",
            subscription_id,
        )
        assert row is not None
    return await subscription_out(row)


async def export_user(user_id: str) -> dict[str, Any]:
    """The user's part of GET /me/export: their plan, subscriptions and paid invoices."""
    uid = uuid.UUID(user_id)
    plan = await fetchrow(
        "SELECT price_cents, runs_included, active, created_at, updated_at "
        "FROM subscription_plans WHERE creator_id = $1",
        uid,
    )
    invoices = await fetch(
        "SELECT stripe_invoice_id, amount_cents, period_start, period_end, created_at "
        "FROM subscription_invoices WHERE subscriber_id = $1 ORDER BY created_at",
        uid,
    )

    def plain(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}

    return {
        "plan": plain(plan) if plan else None,
        "subscriptions": [msgspec_to_builtins(s) for s in await mine(user_id)],
        "invoices_paid": [plain(r) for r in invoices],
    }


def msgspec_to_builtins(value: Any) -> Any:
    import msgspec

    return msgspec.to_builtins(value)


async def end_for_erased_user(user_id: str) -> None:
    """Account erasure (inside its transaction): nobody pays for anything more through this
    account. The user's own subscriptions and the subscriptions to their plan are cancelled at
    Stripe right away by a job written to the outbox with the erasure (retried until Stripe
    answers), and their plan is no longer offered."""
    uid = uuid.UUID(user_id)
    await fetch(
        "UPDATE subscription_plans SET active = false, updated_at = now() WHERE creator_id = $1",
        uid,
    )
    rows = await fetch(
        "SELECT id FROM subscriptions "
        "WHERE (subscriber_id = $1 OR creator_id = $1) AND status <> 'canceled'",
        uid,
    )
    for row in rows:
        await outbox.enqueue(
            "cancel_subscription_now", str(row["id"]), job_id=f"subscription-end:{row['id']}"
        )


async def cancel_now(subscription_id: str) -> bool:
    """Cancel one subscription at Stripe and record it ended (the job behind
    `end_for_erased_user`). Idempotent: an ended subscription is left as it is."""
    row = await fetchrow(
        "SELECT id, stripe_subscription_id, status FROM subscriptions WHERE id = $1",
        uuid.UUID(subscription_id),
    )
    if row is None or row["status"] == "canceled":
        return False
    await stripe_billing.cancel_now(row["stripe_subscription_id"])
    ended = await fetchrow(
        "UPDATE subscriptions SET status = 'canceled', canceled_at = now(), updated_at = now() "
        "WHERE id = $1 AND status <> 'canceled' RETURNING id",
        row["id"],
    )
    log.info("subscriptions.ended_for_erasure", subscription_id=subscription_id)
    return ended is not None
