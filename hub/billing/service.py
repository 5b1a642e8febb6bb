"""Money rules: starter credits, wallets, the money side of runs, creator earnings.

Every function that moves money posts one ledger transaction inside the caller's database
transaction (or its own), so the money and the state change it belongs to commit together.
Realtime notices (`wallet.updated`, `earnings.updated`) are published by the caller after
commit through `publish_wallet` / `publish_earnings`.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import structlog

from hub import live
from hub.accounts.emails import email_digest
from hub.billing import ledger
from hub.billing.schemas import (
    DaySalesTotal,
    EarningsOut,
    LedgerEntryOut,
    LedgerPage,
    PromptSalesTotal,
    SaleOut,
    SalesPage,
    SalesTotals,
    Settlement,
    WalletOut,
)
from hub.community import notifications
from hub.db import engine, fetch, fetchrow
from hub.pagination import decode_cursor, encode_cursor
from hub.settings import get_settings

log = structlog.get_logger(__name__)

CURRENCY = "USD"


class SpendingLimitExceeded(Exception):
    def __init__(self, limit: int, spent: int, amount: int) -> None:
        super().__init__("daily spending limit")
        self.limit, self.spent, self.amount = limit, spent, amount


def split_price(price_cents: int, fee_bps: int | None = None) -> tuple[int, int]:
    """(platform fee, creator earning); the fee is rounded to the nearest cent, half up."""
    bps = get_settings().platform_fee_bps if fee_bps is None else fee_bps
    fee = (price_cents * bps + 5000) // 10000
    return fee, price_cents - fee


def _uid(value: str | uuid.UUID) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


# --- buyers ------------------------------------------------------------------------------


async def on_user_registered(user_id: str) -> None:
    """Open the user's wallet (inside the registration transaction); no credits yet."""
    await ledger.user_accounts(user_id, ledger.BUYER_KINDS)


async def on_email_verified(user_id: str, email: str) -> None:
    """Grant the starter credits (inside the verification transaction), at most once per
    verified address: the address's digest is recorded, so a second account, or the same
    address registered again after an erasure, gets nothing."""
    amount = get_settings().starter_credits_cents
    if amount <= 0:
        return
    granted = await fetchrow(
        "INSERT INTO starter_grants (email_hash, user_id) VALUES ($1, $2) "
        "ON CONFLICT (email_hash) DO NOTHING RETURNING user_id",
        email_digest(email),
        _uid(user_id),
    )
    if granted is None:
        log.info("billing.starter_credits_not_granted", user_id=user_id, reason="address_used")
        return
    accounts = await ledger.user_accounts(user_id, ledger.BUYER_KINDS)
    await ledger.post(
        "starter_credits",
        f"starter:{user_id}",
        [(await ledger.platform_account("promotions"), -amount), (accounts["wallet"], amount)],
        memo="Starter credits",
    )


async def grant_credits(user_id: str, amount_cents: int, ref: str, memo: str = "") -> int:
    """Promotional credit (support, tests, seeding): promotions -> wallet, once per `ref`."""
    async with engine().transaction():
        accounts = await ledger.user_accounts(user_id, ledger.BUYER_KINDS)
        tx_id = await ledger.post(
            "adjustment",
            ref,
            [
                (await ledger.platform_account("promotions"), -amount_cents),
                (accounts["wallet"], amount_cents),
            ],
            memo=memo or "Credit adjustment",
        )
    await publish_wallet(user_id)
    return tx_id


def _today_utc() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


async def spent_today(wallet_id: int) -> int:
    """Net wallet outflow of the runs started today (UTC): holds in flight, charges once done.

    A refunded run costs nothing, a cancelled one its usage so far.
    """
    row = await fetchrow(
        """
        WITH today AS (
            SELECT t.run_id FROM ledger_entries e
            JOIN ledger_transactions t ON t.id = e.transaction_id
            WHERE e.account_id = $1 AND t.kind = 'run_hold' AND e.created_at >= $2
        )
        SELECT coalesce(-sum(e.amount), 0) AS spent FROM ledger_entries e
        JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE e.account_id = $1 AND t.run_id IN (SELECT run_id FROM today)
        """,
        wallet_id,
        _today_utc(),
    )
    return max(0, int(row["spent"])) if row else 0


_WALLET_SQL = """
WITH acc AS (
    SELECT id, kind, balance FROM ledger_accounts WHERE user_id = $1 AND kind IN ('wallet', 'hold')
),
w AS (SELECT id FROM acc WHERE kind = 'wallet'),
today AS (
    SELECT t.run_id FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
    WHERE e.account_id = (SELECT id FROM w) AND t.kind = 'run_hold' AND e.created_at >= $2
)
SELECT
    (SELECT balance FROM acc WHERE kind = 'wallet') AS wallet,
    (SELECT balance FROM acc WHERE kind = 'hold') AS hold,
    (SELECT coalesce(-sum(e.amount), 0) FROM ledger_entries e
        JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE e.account_id = (SELECT id FROM w) AND t.run_id IN (SELECT run_id FROM today)) AS spent
"""


async def wallet(user_id: str) -> WalletOut:
    """Balance, held and spent today in one query (the wallet is opened on first use)."""
    row = await fetchrow(_WALLET_SQL, _uid(user_id), _today_utc())
    if row is None or row["wallet"] is None or row["hold"] is None:
        await ledger.user_accounts(user_id, ledger.BUYER_KINDS)
        row = await fetchrow(_WALLET_SQL, _uid(user_id), _today_utc())
    assert row is not None
    return WalletOut(
        balance_cents=int(row["wallet"] or 0),
        held_cents=int(row["hold"] or 0),
        currency=CURRENCY,
        spending_limit_cents=get_settings().daily_spending_limit_cents,
        spent_today_cents=max(0, int(row["spent"] or 0)),
    )


async def lock_wallet(user_id: str) -> tuple[dict[str, int], int]:
    """Lock the buyer's wallet and hold (in ledger lock order); returns (accounts, balance).

    Run creation takes this lock first, so the spending-limit check and the hold it guards
    are serialised per buyer.
    """
    for _ in range(2):
        rows = await fetch(
            "SELECT id, kind, balance FROM ledger_accounts WHERE user_id = $1 "
            "AND kind IN ('wallet', 'hold') ORDER BY id FOR UPDATE",
            _uid(user_id),
        )
        if len(rows) == 2:
            accounts = {r["kind"]: int(r["id"]) for r in rows}
            balance = next(int(r["balance"]) for r in rows if r["kind"] == "wallet")
            return accounts, balance
        await ledger.user_accounts(user_id, ledger.BUYER_KINDS)
    raise ledger.LedgerError("could not open the wallet")


async def check_spending_limit(wallet_id: int, amount_cents: int) -> None:
    limit = get_settings().daily_spending_limit_cents
    if limit <= 0:
        return
    spent = await spent_today(wallet_id)
    if spent + amount_cents > limit:
        raise SpendingLimitExceeded(limit, spent, amount_cents)


async def ledger_page(user_id: str, limit: int, after: str | None) -> LedgerPage:
    before_id = decode_cursor(after, "ledger", int, int)[1] if after else 2**62
    rows = await fetch(
        """
        SELECT e.id, e.transaction_id, t.kind, a.kind AS account, e.amount, e.balance_after,
               e.created_at, t.run_id, t.memo
        FROM ledger_accounts a
        JOIN ledger_entries e ON e.account_id = a.id
        JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE a.user_id = $1 AND e.id < $2
        ORDER BY e.id DESC LIMIT $3
        """,
        _uid(user_id),
        before_id,
        limit + 1,
    )
    items = [
        LedgerEntryOut(
            id=int(r["id"]),
            transaction_id=int(r["transaction_id"]),
            kind=r["kind"],
            account=r["account"],
            amount_cents=int(r["amount"]),
            balance_after_cents=int(r["balance_after"]),
            created_at=r["created_at"],
            run_id=str(r["run_id"]) if r["run_id"] else None,
            memo=r["memo"],
        )
        for r in rows[:limit]
    ]
    next_cursor = encode_cursor("ledger", items[-1].id, items[-1].id) if len(rows) > limit else None
    return LedgerPage(items=items, next_cursor=next_cursor)


# --- the money side of a run ------------------------------------------------------------


def _final_ref(run_id: str | uuid.UUID) -> str:
    return f"run:{run_id}:final"


async def hold_for_run(accounts: dict[str, int], run_id: str, hold_cents: int) -> int:
    """wallet -H, hold +H. Raises ledger.InsufficientFunds when the wallet is short."""
    return await ledger.post(
        "run_hold",
        f"run:{run_id}:hold",
        [(accounts["wallet"], -hold_cents), (accounts["hold"], hold_cents)],
        run_id=run_id,
        memo="Hold for a run",
    )


async def settle_run(
    *,
    run_id: str,
    prompt_id: str,
    buyer_id: str,
    creator_id: str,
    hold_cents: int,
    price_cents: int,
    usage_cents: int,
    kind: str = "run_settle",
    memo: str = "Run completed",
) -> Settlement:
    """Run completed: hold -H; creator +price*(1-fee); platform +fee; usage +U; wallet +rest.

    A run cancelled after its output began is settled the same way (`kind="run_cancel"`):
    the buyer has the output, so the creator's sale stands.
    """
    if price_cents + usage_cents > hold_cents:
        raise ledger.LedgerError("a run is never charged more than its hold")
    buyer = await ledger.user_accounts(buyer_id, ledger.BUYER_KINDS)
    fee, earning = split_price(price_cents) if price_cents > 0 else (0, 0)
    returned = hold_cents - price_cents - usage_cents
    postings = [
        (buyer["hold"], -hold_cents),
        (buyer["wallet"], returned),
        (await ledger.platform_account("usage_revenue"), usage_cents),
        (await ledger.platform_account("platform_fees"), fee),
    ]
    if earning:
        creator = await ledger.user_accounts(creator_id, ["earnings_pending", "creator_debt"])
        debt = await _debt(creator["creator_debt"])
        pay_off = min(earning, debt)  # what an admin refund left the creator owing comes first
        postings += [
            (creator["creator_debt"], pay_off),
            (creator["earnings_pending"], earning - pay_off),
        ]
    tx_id = await ledger.post(kind, _final_ref(run_id), postings, run_id=run_id, memo=memo)
    notification_id: str | None = None
    if price_cents > 0:
        hold_days = get_settings().earnings_hold_days
        await fetch(
            "INSERT INTO sales (run_id, prompt_id, creator_id, buyer_id, transaction_id, "
            "gross_cents, fee_cents, earning_cents, matures_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + $9::interval)",
            _uid(run_id),
            _uid(prompt_id),
            _uid(creator_id),
            _uid(buyer_id),
            tx_id,
            price_cents,
            fee,
            earning,
            timedelta(days=hold_days),
        )
        if earning:
            note = await notifications.notify(
                _uid(creator_id),
                "sale.earned",
                f"sale:{run_id}",
                actor_id=_uid(buyer_id),
                prompt_id=_uid(prompt_id),
                data={"amount_cents": earning, "run_id": str(run_id)},
            )
            notification_id = str(note) if note else None
    return Settlement(
        transaction_id=tx_id,
        price_cents=price_cents,
        usage_cents=usage_cents,
        fee_cents=fee,
        earning_cents=earning,
        returned_cents=returned,
        notification_id=notification_id,
    )


async def _debt(debt_account: int) -> int:
    """What the creator owes (>= 0); locks the account only when there is a debt (rare)."""
    balance = (await ledger.balances([debt_account])).get(debt_account, 0)
    if balance < 0:
        balance = (await ledger.lock_accounts([debt_account]))[debt_account]
    return -balance


class AdminRefund(msgspec.Struct):
    run_id: str
    refunded_cents: int
    fee_reversed_cents: int
    earning_reversed_cents: int
    creator_debt_cents: int  # the part of the earning the creator no longer held


async def admin_refund_run(
    *, run_id: str, buyer_id: str, creator_id: str, price_cents: int, usage_cents: int
) -> AdminRefund:
    """Reverse a completed run's settlement (inside the caller's transaction).

    The buyer gets price + usage back; the platform returns its fee and the usage; the
    creator's earning comes back out of pending, then available, and whatever is already gone
    becomes a creator debt (never a negative balance), paid off by their next sales.
    """
    buyer = await ledger.user_accounts(buyer_id, ["wallet"])
    postings = [
        (buyer["wallet"], price_cents + usage_cents),
        (await ledger.platform_account("usage_revenue"), -usage_cents),
    ]
    sale = await fetchrow(
        "SELECT fee_cents, earning_cents, refunded_at FROM sales WHERE run_id = $1 FOR UPDATE",
        _uid(run_id),
    )
    fee = earning = debt = 0
    if sale is not None:
        fee, earning = int(sale["fee_cents"]), int(sale["earning_cents"])
        creator = await ledger.user_accounts(
            creator_id, ["earnings_pending", "earnings_available", "creator_debt"]
        )
        held = await ledger.lock_accounts(
            [creator["earnings_pending"], creator["earnings_available"]]
        )
        from_pending = min(earning, held[creator["earnings_pending"]])
        from_available = min(earning - from_pending, held[creator["earnings_available"]])
        debt = earning - from_pending - from_available
        postings += [
            (await ledger.platform_account("platform_fees"), -fee),
            (creator["earnings_pending"], -from_pending),
            (creator["earnings_available"], -from_available),
            (creator["creator_debt"], -debt),
        ]
    tx_id = await ledger.post(
        "run_admin_refund",
        f"run:{run_id}:admin_refund",
        postings,
        run_id=run_id,
        memo="Run refunded by support",
    )
    if sale is not None:
        await fetch(
            "UPDATE sales SET refunded_at = now(), refund_transaction_id = $2 WHERE run_id = $1",
            _uid(run_id),
            tx_id,
        )
    return AdminRefund(
        run_id=run_id,
        refunded_cents=price_cents + usage_cents,
        fee_reversed_cents=fee,
        earning_reversed_cents=earning,
        creator_debt_cents=debt,
    )


async def refund_run(*, run_id: str, buyer_id: str, hold_cents: int, memo: str) -> int:
    """Run failed: hold -H, wallet +H (a full refund)."""
    buyer = await ledger.user_accounts(buyer_id, ledger.BUYER_KINDS)
    return await ledger.post(
        "run_refund",
        _final_ref(run_id),
        [(buyer["hold"], -hold_cents), (buyer["wallet"], hold_cents)],
        run_id=run_id,
        memo=memo,
    )


async def cancel_run(*, run_id: str, buyer_id: str, hold_cents: int) -> int:
    """Run cancelled before its first output token: hold -H, wallet +H; nothing is charged."""
    buyer = await ledger.user_accounts(buyer_id, ledger.BUYER_KINDS)
    return await ledger.post(
        "run_cancel",
        _final_ref(run_id),
        [(buyer["hold"], -hold_cents), (buyer["wallet"], hold_cents)],
        run_id=run_id,
        memo="Run cancelled before any output: nothing charged",
    )


# --- creators ---------------------------------------------------------------------------


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
    since = _today_utc() - timedelta(days=days - 1)
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
        _today_utc(),
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
          coalesce(sum(a.balance) FILTER (WHERE a.kind = 'earnings_pending'), 0) AS pending,
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
          coalesce(sum(e.amount) FILTER (WHERE t.kind IN ('run_settle', 'run_admin_refund')
              AND a.kind IN ('earnings_pending', 'earnings_available', 'creator_debt')), 0) AS lifetime,
          coalesce(-sum(e.amount) FILTER (WHERE t.kind = 'payout_paid'
              AND a.kind = 'payouts_in_transit'), 0) AS paid
        FROM ledger_accounts a
        JOIN ledger_entries e ON e.account_id = a.id
        JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE a.user_id = $1
        """,
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
    )


async def mature_earnings(batch: int = 500, as_of: datetime | None = None) -> int:
    """Move pending earnings whose hold period is over to available; one tx per creator.

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
        async with engine().transaction():
            sales = await fetch(
                "SELECT run_id, earning_cents FROM sales WHERE creator_id = $1 "
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
                creator_id, ["earnings_pending", "earnings_available"]
            )
            pending = (await ledger.lock_accounts([accounts["earnings_pending"]]))[
                accounts["earnings_pending"]
            ]
            amount = min(pending, sum(int(s["earning_cents"]) for s in sales))
            run_ids = [s["run_id"] for s in sales]
            digest = hashlib.sha256(",".join(map(str, run_ids)).encode()).hexdigest()[:32]
            tx_id = None
            if amount > 0:
                tx_id = await ledger.post(
                    "earnings_mature",
                    f"mature:{creator_id}:{digest}",
                    [
                        (accounts["earnings_pending"], -amount),
                        (accounts["earnings_available"], amount),
                    ],
                    memo=f"Earnings of {len(sales)} sale(s) matured",
                )
            await fetch(
                "UPDATE sales SET matured_transaction_id = $1 WHERE run_id = ANY($2::uuid[])",
                tx_id,
                run_ids,
            )
        moved += amount
        if amount:
            await publish_earnings(creator_id)
    return moved


# --- GDPR ------------------------------------------------------------------------------


async def export_user(user_id: str) -> dict[str, Any]:
    """The user's part of GET /me/export: wallet, every ledger entry, sales and earnings."""
    entries = await fetch(
        "SELECT e.id, t.kind, a.kind AS account, e.amount AS amount_cents, "
        "e.balance_after AS balance_after_cents, t.run_id, t.memo, e.created_at "
        "FROM ledger_accounts a JOIN ledger_entries e ON e.account_id = a.id "
        "JOIN ledger_transactions t ON t.id = e.transaction_id WHERE a.user_id = $1 ORDER BY e.id",
        _uid(user_id),
    )
    sales = await fetch(
        "SELECT run_id, prompt_id, gross_cents, fee_cents, earning_cents, created_at, matures_at "
        "FROM sales WHERE creator_id = $1 ORDER BY created_at",
        _uid(user_id),
    )
    topups = await fetch(
        "SELECT payment_intent_id, amount_cents, status, created_at FROM topups "
        "WHERE user_id = $1 ORDER BY created_at",
        _uid(user_id),
    )
    payouts = await fetch(
        "SELECT id, amount_cents, status, transfer_id, created_at FROM payouts "
        "WHERE creator_id = $1 ORDER BY created_at",
        _uid(user_id),
    )
    account = await fetchrow(
        "SELECT stripe_account_id, payouts_enabled, created_at FROM payout_accounts WHERE user_id = $1",
        _uid(user_id),
    )
    w = await wallet(user_id)
    e = await creator_earnings(user_id)
    return {
        "wallet": msgspec.to_builtins(w),
        "earnings": msgspec.to_builtins(e),
        "ledger": [{k: _plain(v) for k, v in r.items()} for r in entries],
        "sales": [{k: _plain(v) for k, v in r.items()} for r in sales],
        "topups": [{k: _plain(v) for k, v in r.items()} for r in topups],
        "payout_account": {k: _plain(v) for k, v in account.items()} if account else None,
        "payouts": [{k: _plain(v) for k, v in r.items()} for r in payouts],
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


# --- realtime notices (after commit, best effort) ----------------------------------------


async def publish_wallet(user_id: str) -> None:
    try:
        w = await wallet(user_id)
        await live.publish(
            f"notifications#{user_id}",
            {
                "type": "wallet.updated",
                "balance_cents": w.balance_cents,
                "held_cents": w.held_cents,
                "spent_today_cents": w.spent_today_cents,
            },
        )
    except Exception:  # noqa: BLE001 - the money is committed; a lost notice is only a notice
        log.warning("billing.publish_wallet_failed", user_id=user_id, exc_info=True)


async def publish_earnings(creator_id: str) -> None:
    try:
        e = await creator_earnings(creator_id)
        await live.publish(
            f"sales#{creator_id}",
            {
                "type": "earnings.updated",
                "pending_cents": e.pending_cents,
                "available_cents": e.available_cents,
                "in_transit_cents": e.in_transit_cents,
                "lifetime_cents": e.lifetime_cents,
            },
        )
    except Exception:  # noqa: BLE001
        log.warning("billing.publish_earnings_failed", creator_id=creator_id, exc_info=True)
