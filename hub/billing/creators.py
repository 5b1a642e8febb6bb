"""Creators' money: the platform's cut of a price, sales, totals, earnings, and their
maturing from pending to available.

Why a module of its own: what a creator sees on /me/sales and /me/earnings, and the cron that
makes earnings payable after the hold period, read and move the creator's own ledger
accounts and sales rows, which the run's settlement (`hub.billing.run_money`) writes.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hub import outbox
from hub.billing import ledger
from hub.billing.schemas import (
    DaySalesTotal,
    EarningsOut,
    PromptSalesTotal,
    SaleOut,
    SalesPage,
    SalesTotals,
)
from hub.billing.wallets import today_utc
from hub.platform.db import fetch, fetchrow
from hub.platform.pagination import decode_cursor, encode_cursor
from hub.platform.settings import get_settings


def split_price(price_cents: int, fee_bps: int | None = None) -> tuple[int, int]:
    """(platform fee, creator earning); the fee is rounded to the nearest cent, half up."""
    bps = get_settings().platform_fee_bps if fee_bps is None else fee_bps
    fee = (price_cents * bps + 5000) // 10000
    return fee, price_cents - fee


def _uid(value: str | uuid.UUID) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


async def creator_sales(creator_id: str, limit: int, after: str | None) -> SalesPage:
    args: list[Any] = [_uid(creator_id), limit + 1]
    where = "s.creator_id = $1"
    if after:
        where += " AND (s.created_at, s.run_id) < ($3, $4)"
        args += list(decode_cursor(after, "sales", datetime))
    rows = await fetch(
        "SELECT s.*, p.title AS prompt_title, u.handle AS buyer_handle FROM sales s "
        "LEFT JOIN prompts p ON p.id = s.prompt_id "
        "LEFT JOIN users u ON u.id = s.buyer_id AND u.deleted_at IS NULL "
        f"WHERE {where} ORDER BY s.created_at DESC, s.run_id DESC LIMIT $2",
        *args,
    )
    items = [
        SaleOut(
            run_id=str(r["run_id"]),
            prompt_id=str(r["prompt_id"]),
            prompt_title=r["prompt_title"],
            buyer_handle=r["buyer_handle"],
            gross_cents=r["gross_cents"],
            fee_cents=r["fee_cents"],
            earning_cents=r["earning_cents"],
            created_at=r["created_at"],
            matures_at=r["matures_at"],
            matured=r["matured_transaction_id"] is not None,
            refunded=r["refunded_at"] is not None,
            promotional=r["promo_gross_cents"] > 0,
            promo_gross_cents=r["promo_gross_cents"],
            promo_earning_cents=r["promo_earning_cents"],
            withheld_cents=r["withheld_cents"],
        )
        for r in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor("sales", last["created_at"], last["run_id"])
    return SalesPage(items=items, next_cursor=next_cursor)


async def sales_totals(creator_id: str, days: int = 30) -> SalesTotals:
    """Sales per prompt and per UTC day over the last `days` days (refunded sales excluded),
    every day present (zeros included) so a chart has no holes."""
    uid = _uid(creator_id)
    since = today_utc() - timedelta(days=days - 1)
    per_prompt = await fetch(
        "SELECT s.prompt_id, coalesce(p.title, '') AS title, count(*) AS n, "
        "sum(s.gross_cents) AS gross, sum(s.earning_cents) AS earning FROM sales s "
        "LEFT JOIN prompts p ON p.id = s.prompt_id "
        "WHERE s.creator_id = $1 AND s.created_at >= $2 AND s.refunded_at IS NULL "
        "GROUP BY s.prompt_id, p.title ORDER BY earning DESC, n DESC",
        uid,
        since,
    )
    per_day = await fetch(
        "SELECT d::date AS day, count(s.run_id) AS n, coalesce(sum(s.gross_cents), 0) AS gross, "
        "coalesce(sum(s.earning_cents), 0) AS earning "
        "FROM generate_series($2::timestamptz, $3::timestamptz, interval '1 day') d "
        "LEFT JOIN sales s ON s.creator_id = $1 AND s.refunded_at IS NULL "
        "AND s.created_at >= d AND s.created_at < d + interval '1 day' "
        "GROUP BY d ORDER BY d",
        uid,
        since,
        today_utc(),
    )
    return SalesTotals(
        days=days,
        per_prompt=[
            PromptSalesTotal(
                prompt_id=str(r["prompt_id"]),
                title=r["title"],
                count=int(r["n"]),
                gross_cents=int(r["gross"]),
                earning_cents=int(r["earning"]),
            )
            for r in per_prompt
        ],
        per_day=[
            DaySalesTotal(
                day=r["day"].isoformat(),
                count=int(r["n"]),
                gross_cents=int(r["gross"]),
                earning_cents=int(r["earning"]),
            )
            for r in per_day
        ],
    )


async def creator_earnings(creator_id: str) -> EarningsOut:
    """Every figure is a sum over the creator's own ledger entries."""
    row = await fetchrow(
        """
        SELECT
          coalesce(sum(a.balance) FILTER (
              WHERE a.kind IN ('earnings_pending', 'promo_earnings_pending')), 0) AS pending,
          coalesce(sum(a.balance) FILTER (WHERE a.kind = 'promo_earnings_pending'), 0) AS promo,
          coalesce(sum(a.balance) FILTER (WHERE a.kind = 'promo_earnings_withheld'), 0) AS withheld,
          coalesce(sum(a.balance) FILTER (WHERE a.kind = 'earnings_available'), 0) AS available,
          coalesce(sum(a.balance) FILTER (WHERE a.kind = 'payouts_in_transit'), 0) AS in_transit,
          coalesce(-sum(a.balance) FILTER (WHERE a.kind = 'creator_debt'), 0) AS debt
        FROM ledger_accounts a WHERE a.user_id = $1
        """,
        _uid(creator_id),
    )
    flows = await fetchrow(
        """
        SELECT
          coalesce(sum(e.amount) FILTER (
              WHERE t.kind IN ('run_settle', 'run_cancel', 'run_admin_refund')
              AND a.kind IN ('earnings_pending', 'promo_earnings_pending', 'earnings_available',
                             'creator_debt')), 0) AS lifetime,
          coalesce(-sum(e.amount) FILTER (WHERE t.kind = 'payout_paid'
              AND a.kind = 'payouts_in_transit'), 0) AS paid
        FROM ledger_accounts a
        JOIN ledger_entries e ON e.account_id = a.id
        JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE a.user_id = $1
        """,
        _uid(creator_id),
    )
    month = await fetchrow(
        "SELECT payable_cents FROM promo_earnings_months WHERE creator_id = $1 "
        "AND month = date_trunc('month', now() AT TIME ZONE 'UTC')::date",
        _uid(creator_id),
    )
    assert row is not None and flows is not None
    return EarningsOut(
        pending_cents=int(row["pending"]),
        available_cents=int(row["available"]),
        in_transit_cents=int(row["in_transit"]),
        paid_cents=int(flows["paid"]),
        lifetime_cents=int(flows["lifetime"]),
        debt_cents=int(row["debt"]),
        promo_pending_cents=int(row["promo"]),
        withheld_cents=int(row["withheld"]),
        promo_cap_cents=get_settings().promo_earnings_cap_cents,
        promo_month_cents=int(month["payable_cents"]) if month else 0,
    )


async def mature_earnings(batch: int = 500, as_of: datetime | None = None) -> int:
    """Move pending earnings whose hold period is over to available; one tx per creator.
    Promo-funded earnings within the cap mature the same way; withheld ones never move.

    Idempotent: the sales rows are locked and marked in the same transaction as the posting,
    so a second (or concurrent) run of the cron finds nothing to do.
    """
    cutoff = as_of or datetime.now(UTC)
    creators = await fetch(
        "SELECT DISTINCT creator_id FROM sales WHERE matured_transaction_id IS NULL "
        "AND refunded_at IS NULL AND matures_at <= $2 AND earning_cents > 0 LIMIT $1",
        batch,
        cutoff,
    )
    moved = 0
    for c in creators:
        creator_id = str(c["creator_id"])
        async with outbox.transaction():
            sales = await fetch(
                "SELECT run_id, earning_cents, promo_earning_cents, withheld_cents FROM sales "
                "WHERE creator_id = $1 "
                "AND matured_transaction_id IS NULL AND refunded_at IS NULL AND matures_at <= $3 "
                "AND earning_cents > 0 "
                "ORDER BY run_id LIMIT $2 FOR UPDATE SKIP LOCKED",
                c["creator_id"],
                batch,
                cutoff,
            )
            if not sales:
                continue
            accounts = await ledger.user_accounts(
                creator_id, ["earnings_pending", "earnings_available", "promo_earnings_pending"]
            )
            held = await ledger.lock_accounts(
                [accounts["earnings_pending"], accounts["promo_earnings_pending"]]
            )
            promo = sum(int(s["promo_earning_cents"]) for s in sales)
            paid = sum(int(s["earning_cents"]) for s in sales) - promo
            paid -= sum(int(s["withheld_cents"]) for s in sales)
            # Pending may hold less than the sales say: a debt was paid off from it.
            paid = min(held[accounts["earnings_pending"]], paid)
            promo = min(held[accounts["promo_earnings_pending"]], promo)
            amount = paid + promo
            run_ids = [s["run_id"] for s in sales]
            digest = hashlib.sha256(",".join(map(str, run_ids)).encode()).hexdigest()[:32]
            tx_id = None
            if amount > 0:
                tx_id = await ledger.post(
                    "earnings_mature",
                    f"mature:{creator_id}:{digest}",
                    [
                        (accounts["earnings_pending"], -paid),
                        (accounts["promo_earnings_pending"], -promo),
                        (accounts["earnings_available"], amount),
                    ],
                    memo=f"Earnings of {len(sales)} sale(s) matured",
                )
            await fetch(
                "UPDATE sales SET matured_transaction_id = $1 WHERE run_id = ANY($2::uuid[])",
                tx_id,
                run_ids,
            )
            if amount:
                await publish_earnings(creator_id)
        moved += amount
    return moved


async def publish_earnings(creator_id: str) -> None:
    """`earnings.updated`, like `publish_wallet`."""
    e = await creator_earnings(creator_id)
    await outbox.publish(
        f"sales#{creator_id}",
        {
            "type": "earnings.updated",
            "pending_cents": e.pending_cents,
            "available_cents": e.available_cents,
            "in_transit_cents": e.in_transit_cents,
            "lifetime_cents": e.lifetime_cents,
            "withheld_cents": e.withheld_cents,
        },
    )
