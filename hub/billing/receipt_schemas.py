"""Receipt bodies (hub.billing.receipts)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

ReceiptKind = Literal[
    "topup",
    "run_charge",
    "run_refund",
    "refund",
    "sale",
    "sale_refund",
    "payout",
    "subscription_invoice",
    "subscription_sale",
]


class ReceiptLine(msgspec.Struct):
    description: str
    amount_cents: int


class ReceiptParty(msgspec.Struct):
    id: str
    handle: str
    display_name: str


class ReceiptPrompt(msgspec.Struct):
    id: str
    title: str


class ReceiptIds(msgspec.Struct, omit_defaults=True):
    """The records behind the receipt, for support and reconciliation."""

    transaction_id: str
    run_id: str | None = None
    prompt_id: str | None = None
    payment_intent_id: str | None = None
    payout_id: str | None = None
    transfer_id: str | None = None
    subscription_id: str | None = None
    invoice_id: str | None = None


class ReceiptOut(msgspec.Struct, kw_only=True):
    id: str
    number: str
    kind: ReceiptKind
    role: Literal["buyer", "creator"]
    title: str
    issued_at: datetime
    currency: str
    lines: list[ReceiptLine]
    subtotal_cents: int
    fee_cents: int
    # Taxes are not collected yet: always null, kept so clients need no change when they are.
    taxes: None
    total_cents: int
    party: ReceiptParty | None
    ids: ReceiptIds
    url: str
    counterparty: ReceiptParty | None = None
    prompt: ReceiptPrompt | None = None
    paid_with_wallet_cents: int | None = None
    paid_with_promo_cents: int | None = None
    status: str | None = None
    updated_at: datetime | None = None


class ReceiptSummary(msgspec.Struct):
    id: str
    number: str
    transaction_kind: str
    role: Literal["buyer", "creator"]
    issued_at: datetime
    # What the transaction did to your balances, signed (a charge is negative).
    amount_cents: int
    url: str


class ReceiptPage(msgspec.Struct):
    items: list[ReceiptSummary]
    next_cursor: str | None
