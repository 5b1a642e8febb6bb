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
    # The part of balance_cents that is promotional (starter credits, grants): spent first;
    # what it buys earns creators promotional earnings, payable only up to a monthly cap.
    promo_balance_cents: int = 0


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
    # Funded (partly) by the buyer's promotional credits: `promo_gross_cents` of the price;
    # of your earning, `promo_earning_cents` is payable (within the monthly cap) and
    # `withheld_cents` is recorded as promotional and never paid out.
    promotional: bool = False
    promo_gross_cents: int = 0
    promo_earning_cents: int = 0
    withheld_cents: int = 0


class SalesPage(msgspec.Struct):
    items: list[SaleOut]
    next_cursor: str | None


class EarningsOut(msgspec.Struct):
    pending_cents: int  # payable once matured, promo-funded earnings within the cap included
    available_cents: int
    in_transit_cents: int
    paid_cents: int
    lifetime_cents: int  # payable earnings ever made (withheld promotional earnings excluded)
    debt_cents: int = 0
    currency: str = "USD"
    promo_pending_cents: int = 0  # the promo-funded part of pending_cents
    withheld_cents: int = 0  # promo-funded earnings beyond the monthly cap: never paid out
    # The monthly cap (HUB_PROMO_EARNINGS_CAP_CENTS) and how much of it this calendar month
    # (UTC) has used: promo-funded earnings past it are withheld.
    promo_cap_cents: int = 0
    promo_month_cents: int = 0


class Settlement(msgspec.Struct):
    """What a completed run paid: returned by settle_run for events and the run row."""

    transaction_id: int
    price_cents: int
    usage_cents: int
    fee_cents: int
    earning_cents: int
    returned_cents: int  # hold minus charge, back to the wallets
    promo_gross_cents: int = 0  # the part of the price paid with promotional credits
    promo_earning_cents: int = 0  # of the earning: promo-funded and payable (within the cap)
    withheld_cents: int = 0  # of the earning: promo-funded beyond the cap, never paid out
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


class PayoutAccountOut(msgspec.Struct):
    account_id: str
    payouts_enabled: bool
    onboarding_url: str | None


class PayoutOut(msgspec.Struct):
    id: str
    amount_cents: int
    status: str
    transfer_id: str | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    currency: str = "usd"


class PayoutPage(msgspec.Struct):
    items: list[PayoutOut]
    next_cursor: str | None


class TopupOut(msgspec.Struct):
    payment_intent_id: str
    client_secret: str
    amount_cents: int
    currency: str = "usd"


class WebhookOut(msgspec.Struct):
    received: bool
    applied: bool


class AdminRefund(msgspec.Struct):
    run_id: str
    refunded_cents: int
    fee_reversed_cents: int
    earning_reversed_cents: int
    creator_debt_cents: int  # the part of the earning the creator no longer held
