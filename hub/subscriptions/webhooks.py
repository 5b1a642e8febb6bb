"""Stripe Billing events: the only thing that changes a subscription's state or moves money.

Called by the Stripe webhook (hub.billing.topups.handle_webhook) inside its transaction, after
the event id was recorded as new: each event is applied once. A paid invoice is also recorded
once by its own id (and the ledger refuses a second `invoice:<id>` ref), so the same invoice
reported by two different events still pays the creator once.

**invoice.paid**: one ledger transaction `stripe_clearing −A; platform_fees +fee; creator
earnings_pending +(A − fee)` (a creator's debt from a support refund is paid off first), the
invoice recorded with its split and maturity date, the subscription `active` for the invoice's
period. **invoice.payment_failed**: `past_due`, covering until the period's end plus
`HUB_SUBSCRIPTION_GRACE_DAYS`. **customer.subscription.updated**: status, period and
`cancel_at_period_end` as Stripe has them. **customer.subscription.deleted**: `canceled`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from hub import outbox
from hub.billing import ledger
from hub.billing.creators import publish_earnings, split_price
from hub.platform.db import fetch, fetchrow
from hub.platform.settings import get_settings

log = structlog.get_logger(__name__)

_STATUS = {
    "active": "active",
    "trialing": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "canceled": "canceled",
    "incomplete_expired": "canceled",
    "incomplete": "incomplete",
    "paused": "past_due",
}


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _subscription_id(obj: dict[str, Any]) -> str | None:
    sub = obj.get("subscription")
    if isinstance(sub, dict):
        sub = sub.get("id")
    if not sub:  # newer API versions: invoice.parent.subscription_details.subscription
        details = (obj.get("parent") or {}).get("subscription_details") or {}
        sub = details.get("subscription")
    return str(sub) if sub else None


def _period(invoice: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    lines = (invoice.get("lines") or {}).get("data") or []
    if lines and isinstance(lines[0], dict) and lines[0].get("period"):
        period = lines[0]["period"]
        return _ts(period.get("start")), _ts(period.get("end"))
    return _ts(invoice.get("period_start")), _ts(invoice.get("period_end"))


async def apply(event_type: str, obj: dict[str, Any]) -> bool:
    if event_type == "invoice.paid":
        return await _invoice_paid(obj)
    if event_type == "invoice.payment_failed":
        return await _invoice_failed(obj)
    if event_type in ("customer.subscription.updated", "customer.subscription.created"):
        return await _sync(obj)
    if event_type == "customer.subscription.deleted":
        return await _deleted(obj)
    return False


async def _locked(stripe_subscription_id: str | None) -> dict[str, Any] | None:
    if not stripe_subscription_id:
        return None
    return await fetchrow(
        "SELECT * FROM subscriptions WHERE stripe_subscription_id = $1 FOR UPDATE",
        stripe_subscription_id,
    )


async def _notify(row: dict[str, Any]) -> None:
    await outbox.publish(
        f"notifications#{row['subscriber_id']}",
        {
            "type": "subscription.updated",
            "subscription_id": str(row["id"]),
            "status": row["status"],
        },
    )


async def _invoice_paid(invoice: dict[str, Any]) -> bool:
    sub = await _locked(_subscription_id(invoice))
    if sub is None:
        return False  # not one of ours
    amount = int(invoice.get("amount_paid") or 0)
    if str(invoice.get("currency", "")).lower() != "usd" or amount <= 0:
        log.error("subscriptions.invoice_not_applied", invoice=invoice.get("id"), amount=amount)
        return False
    seen = await fetchrow(
        "SELECT 1 FROM subscription_invoices WHERE stripe_invoice_id = $1", invoice["id"]
    )
    if seen is not None:
        return False
    creator_id = str(sub["creator_id"])
    fee, earning = split_price(amount)
    creator = await ledger.user_accounts(creator_id, ["earnings_pending", "creator_debt"])
    debt_balance = (await ledger.balances([creator["creator_debt"]]))[creator["creator_debt"]]
    if debt_balance < 0:
        debt_balance = (await ledger.lock_accounts([creator["creator_debt"]]))[
            creator["creator_debt"]
        ]
    pay_off = min(earning, -debt_balance) if debt_balance < 0 else 0
    tx_id = await ledger.post(
        "subscription_invoice",
        f"invoice:{invoice['id']}",
        [
            (await ledger.platform_account("stripe_clearing"), -amount),
            (await ledger.platform_account("platform_fees"), fee),
            (creator["creator_debt"], pay_off),
            (creator["earnings_pending"], earning - pay_off),
        ],
        memo=f"Subscription invoice {invoice['id']}",
    )
    start, end = _period(invoice)
    start = start or sub["current_period_start"]
    end = end or sub["current_period_end"]
    hold_days = get_settings().earnings_hold_days
    await fetch(
        "INSERT INTO subscription_invoices (stripe_invoice_id, subscription_id, creator_id, "
        "subscriber_id, amount_cents, fee_cents, earning_cents, debt_paid_cents, period_start, "
        "period_end, transaction_id, matures_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now() + $12::interval)",
        invoice["id"],
        sub["id"],
        sub["creator_id"],
        sub["subscriber_id"],
        amount,
        fee,
        earning,
        pay_off,
        start,
        end,
        tx_id,
        timedelta(days=hold_days),
    )
    row = await fetchrow(
        "UPDATE subscriptions SET status = 'active', current_period_start = $2, "
        "current_period_end = $3, grace_until = NULL, updated_at = now() WHERE id = $1 "
        "RETURNING *",
        sub["id"],
        start,
        end,
    )
    assert row is not None
    await outbox.publish(
        f"sales#{creator_id}",
        {
            "type": "subscription.paid",
            "subscription_id": str(sub["id"]),
            "gross_cents": amount,
            "fee_cents": fee,
            "earning_cents": earning,
        },
    )
    await publish_earnings(creator_id)
    await _notify(row)
    log.info(
        "subscriptions.invoice_paid",
        subscription_id=str(sub["id"]),
        invoice=invoice["id"],
        amount_cents=amount,
    )
    return True


async def _invoice_failed(invoice: dict[str, Any]) -> bool:
    sub = await _locked(_subscription_id(invoice))
    if sub is None or sub["status"] in ("canceled", "incomplete"):
        return False
    grace = timedelta(days=get_settings().subscription_grace_days)
    until = max(sub["current_period_end"], datetime.now(UTC)) + grace
    row = await fetchrow(
        "UPDATE subscriptions SET status = 'past_due', grace_until = coalesce(grace_until, $2), "
        "updated_at = now() WHERE id = $1 RETURNING *",
        sub["id"],
        until,
    )
    assert row is not None
    await _notify(row)
    log.info("subscriptions.payment_failed", subscription_id=str(sub["id"]))
    return True


async def _sync(obj: dict[str, Any]) -> bool:
    sub = await _locked(str(obj.get("id") or ""))
    if sub is None:
        return False
    status = _STATUS.get(str(obj.get("status")), sub["status"])
    if sub["status"] == "canceled":
        return False  # an ended subscription does not come back
    if status == "active" and sub["status"] == "past_due":
        grace_until = None
    else:
        grace_until = sub["grace_until"]
    row = await fetchrow(
        "UPDATE subscriptions SET status = $2::varchar, cancel_at_period_end = $3, "
        "current_period_start = coalesce($4, current_period_start), "
        "current_period_end = coalesce($5, current_period_end), grace_until = $6, "
        "canceled_at = CASE WHEN $2::varchar = 'canceled' THEN now() ELSE canceled_at END, "
        "updated_at = now() WHERE id = $1 RETURNING *",
        sub["id"],
        status,
        bool(obj.get("cancel_at_period_end")),
        _ts(obj.get("current_period_start")),
        _ts(obj.get("current_period_end")),
        grace_until,
    )
    assert row is not None
    await _notify(row)
    return True


async def _deleted(obj: dict[str, Any]) -> bool:
    sub = await _locked(str(obj.get("id") or ""))
    if sub is None or sub["status"] == "canceled":
        return False
    row = await fetchrow(
        "UPDATE subscriptions SET status = 'canceled', canceled_at = now(), updated_at = now() "
        "WHERE id = $1 RETURNING *",
        sub["id"],
    )
    assert row is not None
    await _notify(row)
    log.info("subscriptions.ended", subscription_id=str(sub["id"]))
    return True


async def mature_invoices(as_of: datetime | None = None, batch: int = 500) -> int:
    """Move invoice earnings whose hold period is over from pending to available (once per
    invoice: the row is locked and marked in the posting's transaction)."""
    cutoff = as_of or datetime.now(UTC)
    moved = 0
    rows = await fetch(
        "SELECT stripe_invoice_id FROM subscription_invoices WHERE matured_transaction_id IS NULL "
        "AND matures_at <= $1 AND earning_cents > debt_paid_cents ORDER BY matures_at LIMIT $2",
        cutoff,
        batch,
    )
    for r in rows:
        async with outbox.transaction():
            inv = await fetchrow(
                "SELECT * FROM subscription_invoices WHERE stripe_invoice_id = $1 "
                "AND matured_transaction_id IS NULL FOR UPDATE SKIP LOCKED",
                r["stripe_invoice_id"],
            )
            if inv is None:
                continue
            creator_id = str(inv["creator_id"])
            accounts = await ledger.user_accounts(
                creator_id, ["earnings_pending", "earnings_available"]
            )
            held = await ledger.lock_accounts([accounts["earnings_pending"]])
            amount = min(
                held[accounts["earnings_pending"]],
                int(inv["earning_cents"]) - int(inv["debt_paid_cents"]),
            )
            tx_id = None
            if amount > 0:
                tx_id = await ledger.post(
                    "earnings_mature",
                    f"mature:invoice:{inv['stripe_invoice_id']}",
                    [
                        (accounts["earnings_pending"], -amount),
                        (accounts["earnings_available"], amount),
                    ],
                    memo="Earnings of a subscription invoice matured",
                )
                await publish_earnings(creator_id)
                moved += amount
            await fetch(
                "UPDATE subscription_invoices SET matured_transaction_id = $2 "
                "WHERE stripe_invoice_id = $1",
                inv["stripe_invoice_id"],
                tx_id,
            )
    return moved


_ = uuid  # ids are UUIDs throughout (asyncpg decodes them)
