"""Double-entry posting: the only way money moves.

A posting is one ledger transaction of two or more entries that sum to zero. The database
applies each entry to its account's balance (trigger), refuses a negative user balance
(CHECK), refuses an unbalanced transaction at commit (deferred constraint trigger) and refuses
a second transaction with the same `ref` (unique). This module adds what the database cannot:
a consistent lock order, so concurrent postings never deadlock.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence

import asyncpg

from hub.platform.db import engine, fetch

PLATFORM_KINDS = ("platform_fees", "usage_revenue", "stripe_clearing", "promotions")
# Paid money and promotional credits are kept apart, so a hold knows which funded it.
BUYER_KINDS = ("wallet", "hold", "promo_wallet", "promo_hold")
CREATOR_KINDS = (
    "earnings_pending",
    "earnings_available",
    "payouts_in_transit",
    "creator_debt",
    # Promo-funded earnings: within the monthly cap (they mature into earnings_available),
    # and beyond it (recorded, never paid out).
    "promo_earnings_pending",
    "promo_earnings_withheld",
)
NON_NEGATIVE_KINDS = BUYER_KINDS + tuple(k for k in CREATOR_KINDS if k != "creator_debt")

_platform_ids: dict[str, int] = {}


class LedgerError(Exception):
    pass


class InsufficientFunds(LedgerError):
    """A user-owned balance would go below zero; the whole DB transaction is rolled back."""


class AlreadyPosted(LedgerError):
    """A transaction with this `ref` (or this run's terminal transaction) already exists."""


async def platform_accounts() -> dict[str, int]:
    """{kind: id} of the platform accounts (created by the migration; cached per process)."""
    if len(_platform_ids) < len(PLATFORM_KINDS):
        rows = await fetch("SELECT id, kind FROM ledger_accounts WHERE user_id IS NULL")
        _platform_ids.update({r["kind"]: int(r["id"]) for r in rows})
        if len(_platform_ids) < len(PLATFORM_KINDS):
            raise LedgerError("platform accounts are missing: run the migrations")
    return _platform_ids


async def platform_account(kind: str) -> int:
    if kind not in PLATFORM_KINDS:
        raise ValueError(f"{kind} is not a platform account")
    return (await platform_accounts())[kind]


async def user_accounts(user_id: str | uuid.UUID, kinds: Iterable[str]) -> dict[str, int]:
    """The user's accounts of these kinds, created on first use."""
    kinds = list(kinds)
    uid = uuid.UUID(str(user_id))
    rows = await fetch(
        "SELECT id, kind FROM ledger_accounts WHERE user_id = $1 AND kind = ANY($2::text[])",
        uid,
        kinds,
    )
    found = {r["kind"]: int(r["id"]) for r in rows}
    missing = [k for k in kinds if k not in found]
    if missing:
        await fetch(
            "INSERT INTO ledger_accounts (kind, user_id) SELECT unnest($1::text[]), $2 "
            "ON CONFLICT ON CONSTRAINT ledger_accounts_kind_user_key DO NOTHING",
            missing,
            uid,
        )
        rows = await fetch(
            "SELECT id, kind FROM ledger_accounts WHERE user_id = $1 AND kind = ANY($2::text[])",
            uid,
            kinds,
        )
        found = {r["kind"]: int(r["id"]) for r in rows}
    return found


async def lock_accounts(account_ids: Sequence[int]) -> dict[int, int]:
    """Lock accounts in the global order (user accounts by id, then platform accounts).

    Platform accounts are shared by every settlement, so they are locked last and held for
    the shortest time. Returns {account_id: balance}.
    """
    rows = await fetch(
        "SELECT id, balance FROM ledger_accounts WHERE id = ANY($1::bigint[]) "
        "ORDER BY (user_id IS NULL), id FOR UPDATE",
        list(account_ids),
    )
    return {int(r["id"]): int(r["balance"]) for r in rows}


async def post(
    kind: str,
    ref: str,
    postings: Iterable[tuple[int, int]],
    *,
    run_id: str | uuid.UUID | None = None,
    memo: str = "",
) -> int:
    """Record one balanced transaction; returns its id.

    Must run inside the caller's DB transaction, so that the money moves together with the
    state change it pays for (or not at all).
    """
    if engine().current_transaction.get() is None:
        raise LedgerError("ledger.post must run inside a database transaction")
    merged: dict[int, int] = defaultdict(int)
    for account_id, amount in postings:
        if not isinstance(amount, int):
            raise LedgerError("ledger amounts are integer cents")
        merged[account_id] += amount
    entries = {a: v for a, v in merged.items() if v != 0}
    if sum(entries.values()) != 0:
        raise LedgerError(f"unbalanced transaction {ref}: {entries}")
    if len(entries) < 2:
        raise LedgerError(f"transaction {ref} moves no money")
    platform = set((await platform_accounts()).values())
    ids = sorted(entries, key=lambda a: (a in platform, a))  # the global lock order
    try:
        # One statement: the transaction row, then its entries in lock order (each entry's
        # trigger locks and updates its account as it is inserted).
        rows = await fetch(
            """
            WITH tx AS (
                INSERT INTO ledger_transactions (kind, ref, run_id, memo)
                VALUES ($1, $2, $3, $4) RETURNING id
            )
            INSERT INTO ledger_entries (transaction_id, account_id, amount)
            SELECT tx.id, t.a, t.v FROM tx,
                unnest($5::bigint[], $6::bigint[]) WITH ORDINALITY AS t(a, v, i)
            ORDER BY t.i
            RETURNING transaction_id
            """,
            kind,
            ref,
            uuid.UUID(str(run_id)) if run_id is not None else None,
            memo,
            ids,
            [entries[i] for i in ids],
        )
        # Check the balance now rather than at COMMIT: an error raised by COMMIT escapes
        # Piccolo's transaction without releasing its pooled connection.
        tx = engine().current_transaction.get()
        assert tx is not None
        await tx.connection.execute(
            "SET CONSTRAINTS ledger_entries_balanced, ledger_transactions_balanced IMMEDIATE; "
            "SET CONSTRAINTS ledger_entries_balanced, ledger_transactions_balanced DEFERRED"
        )
    except asyncpg.exceptions.UniqueViolationError as exc:
        raise AlreadyPosted(ref) from exc
    except asyncpg.exceptions.CheckViolationError as exc:
        if getattr(exc, "constraint_name", None) == "ledger_accounts_nonnegative":
            raise InsufficientFunds(ref) from exc
        raise
    return int(rows[0]["transaction_id"])


async def balances(account_ids: Sequence[int]) -> dict[int, int]:
    rows = await fetch(
        "SELECT id, balance FROM ledger_accounts WHERE id = ANY($1::bigint[])", list(account_ids)
    )
    return {int(r["id"]): int(r["balance"]) for r in rows}
