"""Creator payouts through Stripe Connect (separate charges and transfers).

A creator onboards an Express account (`POST /creator/payout-account`). Once Stripe reports
`payouts_enabled` (webhook `account.updated`), the daily job pays out available earnings at or
above the minimum:

1. one DB transaction: `earnings_available -A, payouts_in_transit +A` and the payout row
   (at most one payout in transit per creator: a unique index);
2. a Stripe Transfer with `idempotency_key = "payout:<id>"`, so a retry after a crash can never
   create a second Transfer;
3. one DB transaction: `payouts_in_transit -A, stripe_clearing +A` (paid), or on a permanent
   refusal `payouts_in_transit -A, earnings_available +A` (failed). Each payout's final posting
   has the ledger ref `payout:<id>:final`, so it happens once.

A payout left in transit by a crash or a Stripe outage is retried by the reconciler job.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import stripe
import structlog

from hub import outbox
from hub.billing import ledger, stripe_api
from hub.billing.creators import publish_earnings
from hub.billing.schemas import PayoutAccountOut, PayoutOut, PayoutPage
from hub.platform.db import fetch, fetchrow
from hub.platform.errors import Problem
from hub.platform.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, page
from hub.platform.settings import get_settings

log = structlog.get_logger(__name__)


def connect_client() -> stripe.StripeClient:
    settings = get_settings()
    base = settings.stripe_connect_api_base or settings.stripe_api_base
    return stripe_api.client(settings, base, "payouts are")


def _provider_error(exc: Exception) -> Problem:
    log.warning("payouts.stripe_error", error=type(exc).__name__)
    return stripe_api.provider_error(
        "The payment provider did not answer as expected; retry shortly."
    )


async def payout_account(user_id: str) -> PayoutAccountOut:
    """Create or return the creator's Express account, with an onboarding link until enabled."""
    client = connect_client()
    uid = uuid.UUID(user_id)
    row = await fetchrow("SELECT stripe_account_id FROM payout_accounts WHERE user_id = $1", uid)
    try:
        if row is None:
            account = await client.v1.accounts.create_async(
                params={
                    "type": "express",
                    "capabilities": {"transfers": {"requested": True}},
                    "metadata": {"user_id": user_id},
                },
                options={"idempotency_key": f"connect-account:{user_id}"},
            )
            await fetch(
                "INSERT INTO payout_accounts (user_id, stripe_account_id, payouts_enabled) "
                "VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING",
                uid,
                account.id,
                bool(account.to_dict().get("payouts_enabled")),
            )
            row = await fetchrow(
                "SELECT stripe_account_id FROM payout_accounts WHERE user_id = $1", uid
            )
            assert row is not None
        account = await client.v1.accounts.retrieve_async(row["stripe_account_id"])
        enabled = bool(account.to_dict().get("payouts_enabled"))
        await fetch(
            "UPDATE payout_accounts SET payouts_enabled = $2, updated_at = now() WHERE user_id = $1",
            uid,
            enabled,
        )
        url = None
        if not enabled:
            base = get_settings().public_url.rstrip("/")
            link = await client.v1.account_links.create_async(
                params={
                    "account": row["stripe_account_id"],
                    "refresh_url": f"{base}/?onboarding=refresh",
                    "return_url": f"{base}/?onboarding=done",
                    "type": "account_onboarding",
                }
            )
            url = link.url
    except stripe.StripeError as exc:
        raise _provider_error(exc) from exc
    return PayoutAccountOut(
        account_id=row["stripe_account_id"], payouts_enabled=enabled, onboarding_url=url
    )


async def on_account_updated(account: dict[str, Any]) -> bool:
    """Webhook `account.updated`: Stripe tells whether the account may receive payouts now."""
    rows = await fetch(
        "UPDATE payout_accounts SET payouts_enabled = $2, updated_at = now() "
        "WHERE stripe_account_id = $1 RETURNING 1",
        account["id"],
        bool(account.get("payouts_enabled")),
    )
    return bool(rows)


async def create_due_payouts(limit: int = 500) -> int:
    """Open a payout for every enabled creator whose available earnings reach the minimum."""
    minimum = get_settings().payout_minimum_cents
    due = await fetch(
        "SELECT pa.user_id FROM payout_accounts pa "
        "JOIN ledger_accounts a ON a.user_id = pa.user_id AND a.kind = 'earnings_available' "
        "WHERE pa.payouts_enabled AND a.balance >= $1 AND NOT EXISTS "
        "(SELECT 1 FROM payouts p WHERE p.creator_id = pa.user_id AND p.status = 'in_transit') "
        "LIMIT $2",
        minimum,
        limit,
    )
    opened = 0
    for creator in due:
        payout_id = await _open_payout(str(creator["user_id"]), minimum)
        if payout_id is not None:
            opened += 1
            await send_transfer(payout_id)
    return opened


async def _open_payout(creator_id: str, minimum: int) -> str | None:
    try:
        async with outbox.transaction():
            acct = await fetchrow(
                "SELECT stripe_account_id FROM payout_accounts WHERE user_id = $1 AND payouts_enabled",
                uuid.UUID(creator_id),
            )
            accounts = await ledger.user_accounts(
                creator_id, ["earnings_available", "payouts_in_transit"]
            )
            available = (await ledger.lock_accounts([accounts["earnings_available"]]))[
                accounts["earnings_available"]
            ]
            if acct is None or available < minimum:
                return None
            payout_id = str(uuid.uuid4())
            tx_id = await ledger.post(
                "payout_created",
                f"payout:{payout_id}:created",
                [
                    (accounts["earnings_available"], -available),
                    (accounts["payouts_in_transit"], available),
                ],
                memo="Payout to your bank account started",
            )
            await fetch(
                "INSERT INTO payouts (id, creator_id, stripe_account_id, amount_cents, created_transaction_id) "
                "VALUES ($1, $2, $3, $4, $5)",
                uuid.UUID(payout_id),
                uuid.UUID(creator_id),
                acct["stripe_account_id"],
                available,
                tx_id,
            )
            await _notify(creator_id, "payout.created", payout_id, available)
    except asyncpg.exceptions.UniqueViolationError:
        return None  # another job opened this creator's payout first
    log.info("payout.created", creator_id=creator_id, payout_id=payout_id, amount_cents=available)
    return payout_id


async def send_transfer(payout_id: str) -> None:
    """Create the payout's Transfer (at most one: the idempotency key is the payout id)."""
    row = await fetchrow(
        "SELECT creator_id, stripe_account_id, amount_cents FROM payouts WHERE id = $1 AND status = 'in_transit'",
        uuid.UUID(payout_id),
    )
    if row is None:
        return
    client = connect_client()
    try:
        transfer = await client.v1.transfers.create_async(
            params={
                "amount": int(row["amount_cents"]),
                "currency": "usd",
                "destination": row["stripe_account_id"],
                "metadata": {"payout_id": payout_id},
            },
            options={"idempotency_key": f"payout:{payout_id}"},
        )
    except (stripe.InvalidRequestError, stripe.PermissionError) as exc:
        await _finish(
            payout_id, paid=False, reason=str(getattr(exc, "user_message", None) or exc)[:500]
        )
        return
    except stripe.StripeError:
        log.warning("payout.transfer_retry_later", payout_id=payout_id, exc_info=True)
        return  # still in transit; the reconciler retries with the same idempotency key
    await _finish(payout_id, paid=True, transfer_id=transfer.id)


async def _finish(
    payout_id: str, *, paid: bool, transfer_id: str | None = None, reason: str | None = None
) -> None:
    async with outbox.transaction():
        row = await fetchrow(
            "SELECT creator_id, amount_cents FROM payouts WHERE id = $1 AND status = 'in_transit' FOR UPDATE",
            uuid.UUID(payout_id),
        )
        if row is None:
            return  # already finished
        creator_id, amount = str(row["creator_id"]), int(row["amount_cents"])
        accounts = await ledger.user_accounts(
            creator_id, ["earnings_available", "payouts_in_transit"]
        )
        other = (
            await ledger.platform_account("stripe_clearing")
            if paid
            else accounts["earnings_available"]
        )
        tx_id = await ledger.post(
            "payout_paid" if paid else "payout_failed",
            f"payout:{payout_id}:final",
            [(accounts["payouts_in_transit"], -amount), (other, amount)],
            memo="Payout sent" if paid else "Payout failed; the amount is available again",
        )
        await fetch(
            "UPDATE payouts SET status = $2, transfer_id = $3, failure_reason = $4, "
            "final_transaction_id = $5, updated_at = now() WHERE id = $1",
            uuid.UUID(payout_id),
            "paid" if paid else "failed",
            transfer_id,
            reason,
            tx_id,
        )
        await _notify(creator_id, "payout.paid" if paid else "payout.failed", payout_id, amount)
    log.info("payout.finished", payout_id=payout_id, paid=paid)


async def retry_in_transit(older_than_seconds: int = 60) -> int:
    """Reconciler: payouts a crash or an outage left in transit get their Transfer (once)."""
    rows = await fetch(
        "SELECT id FROM payouts WHERE status = 'in_transit' "
        "AND updated_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT 100",
        older_than_seconds,
    )
    for r in rows:
        await send_transfer(str(r["id"]))
    return len(rows)


async def _notify(creator_id: str, kind: str, payout_id: str, amount: int) -> None:
    """In the payout's transaction: the payout event and the new earnings (outbox rows)."""
    await outbox.publish(
        f"sales#{creator_id}", {"type": kind, "payout_id": payout_id, "amount_cents": amount}
    )
    await publish_earnings(creator_id)


def _out(row: dict[str, Any]) -> PayoutOut:
    return PayoutOut(
        id=str(row["id"]),
        amount_cents=int(row["amount_cents"]),
        status=row["status"],
        transfer_id=row["transfer_id"],
        failure_reason=row["failure_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def list_payouts(creator_id: str, limit: int, cursor: str | None) -> PayoutPage:
    limit = max(1, min(limit or DEFAULT_LIMIT, MAX_LIMIT))
    args: list[Any] = [uuid.UUID(creator_id), limit + 1]
    where = ""
    if cursor:
        where = "AND (created_at, id) < ($3, $4)"
        args += list(decode_cursor(cursor, "payouts", datetime))
    rows = await fetch(
        f"SELECT * FROM payouts WHERE creator_id = $1 {where} ORDER BY created_at DESC, id DESC LIMIT $2",
        *args,
    )
    items, next_cursor = page(rows, limit, "payouts", lambda r: r["created_at"])
    return PayoutPage(items=[_out(r) for r in items], next_cursor=next_cursor)
