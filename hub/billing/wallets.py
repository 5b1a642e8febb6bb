"""The buyer's money: the wallet (paid and promotional credits), starter credits, the daily
spending limit, the ledger page, and the `wallet.updated` notice.

Why a module of its own: everything a buyer sees on /me/wallet and /me/ledger is computed
here, from the buyer's own ledger accounts, and the run start locks the wallet here
(`lock_wallet`) so the spending-limit check and the hold it guards are serialised per buyer.
Every function that moves money posts one ledger transaction inside the caller's database
transaction (or its own); the notice is an outbox row of that same transaction.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog

from hub import outbox
from hub.accounts.emails import email_digest
from hub.billing import ledger
from hub.billing.schemas import LedgerEntryOut, LedgerPage, WalletOut
from hub.platform.db import fetch, fetchrow
from hub.platform.pagination import decode_cursor, encode_cursor
from hub.platform.settings import get_settings

log = structlog.get_logger(__name__)

CURRENCY = "USD"
_WALLETS = ("wallet", "promo_wallet")


class SpendingLimitExceeded(Exception):
    def __init__(self, limit: int, spent: int, amount: int) -> None:
        super().__init__("daily spending limit")
        self.limit, self.spent, self.amount = limit, spent, amount


def _uid(value: str | uuid.UUID) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def today_utc() -> datetime:
    """Midnight UTC today: where "today" starts for the spending limit and sales totals."""
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


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
        today_utc(),
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
    row = await fetchrow(_WALLET_SQL, _uid(user_id), today_utc())
    if row is None or int(row["accounts"]) < len(ledger.BUYER_KINDS):
        await ledger.user_accounts(user_id, ledger.BUYER_KINDS)
        row = await fetchrow(_WALLET_SQL, _uid(user_id), today_utc())
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
