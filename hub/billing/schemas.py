"""Money bodies (msgspec). Every amount is an integer number of cents."""

from __future__ import annotations

from datetime import datetime

import msgspec


class WalletOut(msgspec.Struct):
    balance_cents: int
    held_cents: int
    currency: str
    spending_limit_cents: int
    spent_today_cents: int


class LedgerEntryOut(msgspec.Struct):
    id: int
    transaction_id: int
    kind: str  # what happened: run_hold, run_settle, starter_credits, ...
    account: str  # which of your accounts moved: wallet, hold, earnings_pending, ...
    amount_cents: int
    balance_after_cents: int
    created_at: datetime
    run_id: str | None = None
    memo: str = ""


class LedgerPage(msgspec.Struct):
    items: list[LedgerEntryOut]
    next_cursor: str | None


class SaleOut(msgspec.Struct):
    run_id: str
    prompt_id: str
    gross_cents: int
    fee_cents: int
    earning_cents: int
    created_at: datetime
    matures_at: datetime
    matured: bool
    buyer_handle: str | None = None  # null once the buyer erased their account
    refunded: bool = False
    prompt_title: str | None = None


class SalesPage(msgspec.Struct):
    items: list[SaleOut]
    next_cursor: str | None


class EarningsOut(msgspec.Struct):
    pending_cents: int
    available_cents: int
    in_transit_cents: int
    paid_cents: int
    lifetime_cents: int
    debt_cents: int = 0
    currency: str = "USD"


class Settlement(msgspec.Struct):
    """What a completed run paid: returned by settle_run for events and the run row."""

    transaction_id: int
    price_cents: int
    usage_cents: int
    fee_cents: int
    earning_cents: int
    returned_cents: int  # hold minus charge, back to the wallet
    notification_id: str | None = None  # the creator's "You earned …", published after commit


class PromptSalesTotal(msgspec.Struct):
    prompt_id: str
    title: str
    count: int
    gross_cents: int
    earning_cents: int


class DaySalesTotal(msgspec.Struct):
    day: str  # YYYY-MM-DD (UTC)
    count: int
    gross_cents: int
    earning_cents: int


class SalesTotals(msgspec.Struct):
    days: int
    per_prompt: list[PromptSalesTotal]
    per_day: list[DaySalesTotal]
