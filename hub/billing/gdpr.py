"""A user's money under the GDPR: their part of GET /me/export.

Why a module of its own: the export gathers every money record that names the user (wallet,
ledger entries, sales, top-ups, payouts), across the billing modules; the records themselves
are never erased (the ledger is append-only and other users' balances depend on it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from hub.billing.creators import creator_earnings
from hub.billing.wallets import wallet
from hub.platform.db import fetch, fetchrow


def _uid(value: str | uuid.UUID) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


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
