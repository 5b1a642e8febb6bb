"""Money rules: starter credits, wallets, the money side of runs, creator earnings.

Every function that moves money posts one ledger transaction inside the caller's database
transaction (or its own), so the money and the state change it belongs to commit together.
Realtime notices (`wallet.updated`, `earnings.updated`) are outbox rows the caller adds in
that same transaction through `publish_wallet` / `publish_earnings`.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import structlog

from hub import outbox
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
from hub.platform.db import fetch, fetchrow
from hub.platform.pagination import decode_cursor, encode_cursor
from hub.platform.settings import get_settings

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
        [
            (await ledger.platform_account("promotions"), -amount),
            (accounts["promo_wallet"], amount),
        ],
        memo="Starter credits (promotional)",
    )
    await publish_wallet(user_id)


async def grant_credits(user_id: str, amount_cents: int, ref: str, memo: str = "") -> int:
    """Promotional credit (support, tests, seeding): promotions -> promo wallet, once per
    `ref`. What it buys earns creators promotional (capped) earnings only."""
    async with outbox.transaction():
        accounts = await ledger.user_accounts(user_id, ledger.BUYER_KINDS)
        tx_id = await ledger.post(
            "adjustment",
            ref,
            [
                (await ledger.platform_account("promotions"), -amount_cents),
                (accounts["promo_wallet"], amount_cents),
            ],
            memo=memo or "Credit adjustment",
        )
        await publish_wallet(user_id)
    return tx_id


def _today_utc() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


async def spent_today(wallet_ids: list[int]) -> int:
    """Net outflow from the wallets (paid and promotional) of the runs started today (UTC):
    holds in flight, charges once done. A refunded run costs nothing."""
    row = await fetchrow(
        """
        WITH today AS (
            SELECT t.run_id FROM ledger_entries e
            JOIN ledger_transactions t ON t.id = e.transaction_id
            WHERE e.account_id = ANY($1::bigint[]) AND t.kind = 'run_hold' AND e.created_at >= $2
        )
        SELECT coalesce(-sum(e.amount), 0) AS spent FROM ledger_entries e
        JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE e.account_id = ANY($1::bigint[]) AND t.run_id IN (SELECT run_id FROM today)
        """,
        wallet_ids,
        _today_utc(),
    )
    return max(0, int(row["spent"])) if row else 0


_WALLET_SQL = """
WITH acc AS (
    SELECT id, kind, balance FROM ledger_accounts WHERE user_id = $1
    AND kind IN ('wallet', 'hold', 'promo_wallet', 'promo_hold')
),
w AS (SELECT id FROM acc WHERE kind IN ('wallet', 'promo_wallet')),
today AS (
    SELECT t.run_id FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
    WHERE e.account_id IN (SELECT id FROM w) AND t.kind = 'run_hold' AND e.created_at >= $2
)
SELECT
    (SELECT count(*) FROM acc) AS accounts,
    (SELECT coalesce(sum(balance), 0) FROM acc WHERE kind IN ('wallet', 'promo_wallet')) AS balance,
    (SELECT coalesce(sum(balance), 0) FROM acc WHERE kind = 'promo_wallet') AS promo,
    (SELECT coalesce(sum(balance), 0) FROM acc WHERE kind IN ('hold', 'promo_hold')) AS held,
    (SELECT coalesce(-sum(e.amount), 0) FROM ledger_entries e
        JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE e.account_id IN (SELECT id FROM w) AND t.run_id IN (SELECT run_id FROM today)) AS spent
"""


async def wallet(user_id: str) -> WalletOut:
    """Balance (paid + promotional), held and spent today in one query (the wallet is opened
    on first use)."""
    row = await fetchrow(_WALLET_SQL, _uid(user_id), _today_utc())
    if row is None or int(row["accounts"]) < len(ledger.BUYER_KINDS):
        await ledger.user_accounts(user_id, ledger.BUYER_KINDS)
        row = await fetchrow(_WALLET_SQL, _uid(user_id), _today_utc())
    assert row is not None
    return WalletOut(
        balance_cents=int(row["balance"]),
        held_cents=int(row["held"]),
        currency=CURRENCY,
        spending_limit_cents=get_settings().daily_spending_limit_cents,
        spent_today_cents=max(0, int(row["spent"] or 0)),
        promo_balance_cents=int(row["promo"]),
    )


async def lock_wallet(user_id: str) -> tuple[dict[str, int], int]:
    """Lock the buyer's wallets and holds (in ledger lock order); returns (accounts, the
    spendable balance: paid plus promotional).

    Run creation takes this lock first, so the spending-limit check and the hold it guards
    are serialised per buyer.
    """
    kinds = ledger.BUYER_KINDS
    for _ in range(2):
        rows = await fetch(
            "SELECT id, kind, balance FROM ledger_accounts WHERE user_id = $1 "
            "AND kind = ANY($2::text[]) ORDER BY id FOR UPDATE",
            _uid(user_id),
            list(kinds),
        )
        if len(rows) == len(kinds):
            accounts = {r["kind"]: int(r["id"]) for r in rows}
            balance = sum(int(r["balance"]) for r in rows if r["kind"] in _WALLETS)
            return accounts, balance
        await ledger.user_accounts(user_id, kinds)
    raise ledger.LedgerError("could not open the wallet")


_WALLETS = ("wallet", "promo_wallet")


async def check_spending_limit(accounts: dict[str, int], amount_cents: int) -> None:
    limit = get_settings().daily_spending_limit_cents
    if limit <= 0:
        return
    spent = await spent_today([accounts[k] for k in _WALLETS])
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
    """Reserve the hold, promotional credits first: promo_wallet -Hp, promo_hold +Hp,
    wallet -Hr, hold +Hr (Hp + Hr = H). The hold transaction is the record of which money
    funds the run. `accounts` are locked by the caller (`lock_wallet`). Raises
    ledger.InsufficientFunds when the wallets together are short."""
    promo_balance = (await ledger.balances([accounts["promo_wallet"]]))[accounts["promo_wallet"]]
    promo = max(0, min(promo_balance, hold_cents))
    paid = hold_cents - promo
    return await ledger.post(
        "run_hold",
        f"run:{run_id}:hold",
        [
            (accounts["promo_wallet"], -promo),
            (accounts["promo_hold"], promo),
            (accounts["wallet"], -paid),
            (accounts["hold"], paid),
        ],
        run_id=run_id,
        memo="Hold for a run" + (f" ({promo} cents promotional)" if promo else ""),
    )


async def _hold_split(run_id: str, buyer: dict[str, int], hold_cents: int) -> tuple[int, int]:
    """(paid, promotional) parts of the run's hold, as its hold transaction recorded them."""
    rows = await fetch(
        "SELECT e.account_id, e.amount FROM ledger_transactions t "
        "JOIN ledger_entries e ON e.transaction_id = t.id "
        "WHERE t.run_id = $1 AND t.kind = 'run_hold' AND e.amount > 0",
        _uid(run_id),
    )
    promo = sum(int(r["amount"]) for r in rows if r["account_id"] == buyer["promo_hold"])
    paid = sum(int(r["amount"]) for r in rows if r["account_id"] == buyer["hold"])
    if paid + promo != hold_cents:
        raise ledger.LedgerError(
            f"run {run_id}: hold {hold_cents} but the ledger holds {paid + promo}"
        )
    return paid, promo


def _release(
    buyer: dict[str, int], paid: int, promo: int, paid_back: int, promo_back: int
) -> list[tuple[int, int]]:
    """Empty the run's holds; what is not charged goes back to the wallet it came from."""
    return [
        (buyer["hold"], -paid),
        (buyer["wallet"], paid_back),
        (buyer["promo_hold"], -promo),
        (buyer["promo_wallet"], promo_back),
    ]


async def _promo_allowance(creator_id: str, wanted: int) -> int:
    """How much of a promo-funded earning is payable: what is left of the creator's monthly
    cap (HUB_PROMO_EARNINGS_CAP_CENTS, calendar month of the sale in UTC, from the same
    `now()` as the sale row). The month's row is locked until the caller commits, so
    concurrent sales share the cap exactly."""
    if wanted <= 0:
        return 0
    cap = get_settings().promo_earnings_cap_cents
    uid = _uid(creator_id)
    row = await fetchrow(
        "INSERT INTO promo_earnings_months (creator_id, month) "
        "VALUES ($1, date_trunc('month', now() AT TIME ZONE 'UTC')::date) "
        "ON CONFLICT (creator_id, month) DO UPDATE SET payable_cents = "
        "promo_earnings_months.payable_cents RETURNING month, payable_cents",
        uid,
    )
    assert row is not None  # the upsert locks the month's row either way
    allowed = max(0, min(wanted, cap - int(row["payable_cents"])))
    if allowed:
        await fetch(
            "UPDATE promo_earnings_months SET payable_cents = payable_cents + $3 "
            "WHERE creator_id = $1 AND month = $2",
            uid,
            row["month"],
            allowed,
        )
    return allowed


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
    """Run completed: the holds empty; platform + fee; usage + U; creator + price - fee; the
    rest back to the wallets it came from.

    Promotional credits pay first, and pay the price before the usage. The creator's share of
    a promo-funded price is promotional: payable (`promo_earnings_pending`, maturing like any
    earning) up to what is left of this month's cap, the rest `promo_earnings_withheld`,
    recorded and never paid out. A run cancelled after its output began is settled the same
    way (`kind="run_cancel"`): the buyer has the output, so the creator's sale stands.
    """
    if price_cents + usage_cents > hold_cents:
        raise ledger.LedgerError("a run is never charged more than its hold")
    buyer = await ledger.user_accounts(buyer_id, ledger.BUYER_KINDS)
    paid_hold, promo_hold = await _hold_split(run_id, buyer, hold_cents)
    charge = price_cents + usage_cents
    promo_charge = min(promo_hold, charge)
    paid_charge = charge - promo_charge
    promo_price = min(price_cents, promo_charge)
    fee, earning = split_price(price_cents) if price_cents > 0 else (0, 0)
    promo_share = split_price(promo_price)[1] if promo_price > 0 else 0
    paid_share = earning - promo_share
    postings = _release(
        buyer, paid_hold, promo_hold, paid_hold - paid_charge, promo_hold - promo_charge
    )
    postings += [
        (await ledger.platform_account("usage_revenue"), usage_cents),
        (await ledger.platform_account("platform_fees"), fee),
    ]
    payable_promo = withheld = 0
    if earning:
        payable_promo = await _promo_allowance(creator_id, promo_share)
        withheld = promo_share - payable_promo
        creator = await ledger.user_accounts(
            creator_id,
            [
                "earnings_pending",
                "creator_debt",
                "promo_earnings_pending",
                "promo_earnings_withheld",
            ],
        )
        debt = await _debt(creator["creator_debt"])
        # What an admin refund left the creator owing is paid off first, from payable money.
        pay_off = min(paid_share + payable_promo, debt)
        off_paid = min(paid_share, pay_off)
        postings += [
            (creator["creator_debt"], pay_off),
            (creator["earnings_pending"], paid_share - off_paid),
            (creator["promo_earnings_pending"], payable_promo - (pay_off - off_paid)),
            (creator["promo_earnings_withheld"], withheld),
        ]
    if promo_price:
        memo += f" ({promo_price} cents of the price paid with promotional credits)"
    tx_id = await ledger.post(kind, _final_ref(run_id), postings, run_id=run_id, memo=memo)
    notification_id: str | None = None
    if price_cents > 0:
        hold_days = get_settings().earnings_hold_days
        await fetch(
            "INSERT INTO sales (run_id, prompt_id, creator_id, buyer_id, transaction_id, "
            "gross_cents, fee_cents, earning_cents, matures_at, promo_gross_cents, "
            "promo_earning_cents, withheld_cents) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + $9::interval, $10, $11, $12)",
            _uid(run_id),
            _uid(prompt_id),
            _uid(creator_id),
            _uid(buyer_id),
            tx_id,
            price_cents,
            fee,
            earning,
            timedelta(days=hold_days),
            promo_price,
            payable_promo,
            withheld,
        )
        if earning - withheld:
            note = await notifications.notify(
                _uid(creator_id),
                "sale.earned",
                f"sale:{run_id}",
                actor_id=_uid(buyer_id),
                prompt_id=_uid(prompt_id),
                data={"amount_cents": earning - withheld, "run_id": str(run_id)},
            )
            notification_id = str(note) if note else None
    return Settlement(
        transaction_id=tx_id,
        price_cents=price_cents,
        usage_cents=usage_cents,
        fee_cents=fee,
        earning_cents=earning,
        returned_cents=hold_cents - charge,
        notification_id=notification_id,
        promo_gross_cents=promo_price,
        promo_earning_cents=payable_promo,
        withheld_cents=withheld,
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
    *,
    run_id: str,
    buyer_id: str,
    creator_id: str,
    price_cents: int,
    usage_cents: int,
    hold_cents: int,
) -> AdminRefund:
    """Reverse a charged run's settlement (inside the caller's transaction).

    The buyer gets price + usage back, to the wallets it was paid from; the platform returns
    its fee and the usage; the creator's earning comes back: the withheld promotional part
    from where it sits, the payable parts out of pending, then available, and whatever is
    already gone becomes a creator debt (never a negative balance), paid off by their next
    sales. The monthly promotional cap is not given back.
    """
    buyer = await ledger.user_accounts(buyer_id, ledger.BUYER_KINDS)
    _, promo_hold = await _hold_split(run_id, buyer, hold_cents)
    charge = price_cents + usage_cents
    promo_charge = min(promo_hold, charge)
    postings = [
        (buyer["wallet"], charge - promo_charge),
        (buyer["promo_wallet"], promo_charge),
        (await ledger.platform_account("usage_revenue"), -usage_cents),
    ]
    sale = await fetchrow(
        "SELECT fee_cents, earning_cents, promo_earning_cents, withheld_cents, refunded_at "
        "FROM sales WHERE run_id = $1 FOR UPDATE",
        _uid(run_id),
    )
    fee = earning = debt = 0
    if sale is not None:
        fee, earning = int(sale["fee_cents"]), int(sale["earning_cents"])
        promo_payable, withheld = int(sale["promo_earning_cents"]), int(sale["withheld_cents"])
        creator = await ledger.user_accounts(
            creator_id,
            [
                "earnings_pending",
                "earnings_available",
                "creator_debt",
                "promo_earnings_pending",
                "promo_earnings_withheld",
            ],
        )
        held = await ledger.lock_accounts(
            [
                creator["earnings_pending"],
                creator["earnings_available"],
                creator["promo_earnings_pending"],
            ]
        )
        available = held[creator["earnings_available"]]
        taken: dict[int, int] = {}
        for part, pending_account in (
            (earning - promo_payable - withheld, creator["earnings_pending"]),
            (promo_payable, creator["promo_earnings_pending"]),
        ):
            from_pending = min(part, held[pending_account])
            from_available = min(part - from_pending, available)
            available -= from_available
            taken[pending_account] = -from_pending
            taken[creator["earnings_available"]] = (
                taken.get(creator["earnings_available"], 0) - from_available
            )
            debt += part - from_pending - from_available
        postings += [
            (await ledger.platform_account("platform_fees"), -fee),
            *taken.items(),
            (creator["promo_earnings_withheld"], -withheld),
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
        refunded_cents=charge,
        fee_reversed_cents=fee,
        earning_reversed_cents=earning,
        creator_debt_cents=debt,
    )


async def refund_run(*, run_id: str, buyer_id: str, hold_cents: int, memo: str) -> int:
    """Run failed: the holds go back to the wallets they came from (a full refund)."""
    buyer = await ledger.user_accounts(buyer_id, ledger.BUYER_KINDS)
    paid, promo = await _hold_split(run_id, buyer, hold_cents)
    return await ledger.post(
        "run_refund",
        _final_ref(run_id),
        _release(buyer, paid, promo, paid, promo),
        run_id=run_id,
        memo=memo,
    )


async def cancel_run(*, run_id: str, buyer_id: str, hold_cents: int) -> int:
    """Run cancelled before its first output token: the holds go back; nothing is charged."""
    buyer = await ledger.user_accounts(buyer_id, ledger.BUYER_KINDS)
    paid, promo = await _hold_split(run_id, buyer, hold_cents)
    return await ledger.post(
        "run_cancel",
        _final_ref(run_id),
        _release(buyer, paid, promo, paid, promo),
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
        "SELECT run_id, prompt_id, gross_cents, fee_cents, earning_cents, promo_gross_cents, "
        "promo_earning_cents, withheld_cents, created_at, matures_at "
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


# --- realtime notices (outbox rows in the transaction of the change) ----------------------


async def publish_wallet(user_id: str) -> None:
    """`wallet.updated` with the balance as the current transaction leaves it; call it inside
    an `outbox.transaction()` so the notice goes out once the money change commits."""
    w = await wallet(user_id)
    await outbox.publish(
        f"notifications#{user_id}",
        {
            "type": "wallet.updated",
            "balance_cents": w.balance_cents,
            "promo_balance_cents": w.promo_balance_cents,
            "held_cents": w.held_cents,
            "spent_today_cents": w.spent_today_cents,
        },
    )


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
