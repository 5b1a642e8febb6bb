"""Receipts: a readable record of one money event, built from the ledger.

A receipt is a view of one ledger transaction from the side of the person asking: the buyer
of a run sees what they were charged (and how it was paid: wallet or promotional credits), its
creator sees the sale (gross, platform fee, earning). The amounts come from that person's own
ledger entries and the rows the transaction settled (runs, sales, top-ups, payouts), never
from anything the client sends, so a receipt always agrees with the ledger to the cent.
Nothing is stored: a receipt cannot drift from the books. `taxes` is null until the platform
collects taxes.

Who may read one: only someone with an entry in the transaction (404 for anyone else, as for
a transaction that does not exist). Starter credits, holds and maturing earnings are
movements, not receipts.
"""

from __future__ import annotations

import uuid
from typing import Any

from hub.billing import ledger
from hub.billing.receipt_schemas import (
    ReceiptIds,
    ReceiptLine,
    ReceiptOut,
    ReceiptPage,
    ReceiptParty,
    ReceiptPrompt,
    ReceiptSummary,
)
from hub.platform.db import fetch, fetchrow
from hub.platform.errors import not_found
from hub.platform.pagination import decode_cursor, encode_cursor

# Transaction kinds that have receipts (payouts: the one that opens the payout).
RECEIPT_KINDS = (
    "topup",
    "run_settle",
    "run_cancel",
    "run_refund",
    "run_admin_refund",
    "payout_created",
    "subscription_invoice",
)
_BUYER = set(ledger.BUYER_KINDS)
_CREATOR = set(ledger.CREATOR_KINDS)
_PROMO = {"promo_wallet", "promo_hold"}


def number(transaction_id: int) -> str:
    return f"BP-{transaction_id:08d}"


def _party(row: dict[str, Any] | None) -> ReceiptParty | None:
    if row is None or row.get("handle") is None:
        return None
    return ReceiptParty(id=str(row["id"]), handle=row["handle"], display_name=row["display_name"])


async def _user(user_id: Any) -> dict[str, Any] | None:
    if user_id is None:
        return None
    return await fetchrow(
        "SELECT id, handle, display_name FROM users WHERE id = $1 AND deleted_at IS NULL",
        user_id,
    )


async def _entries(transaction_id: int, user_id: uuid.UUID) -> list[dict[str, Any]]:
    return await fetch(
        "SELECT a.kind AS account, e.amount FROM ledger_entries e "
        "JOIN ledger_accounts a ON a.id = e.account_id "
        "WHERE e.transaction_id = $1 AND a.user_id = $2",
        transaction_id,
        user_id,
    )


def _sum(entries: list[dict[str, Any]], kinds: set[str]) -> int:
    return sum(int(e["amount"]) for e in entries if e["account"] in kinds)


async def receipt(transaction_id: int, user_id: str) -> ReceiptOut:
    uid = uuid.UUID(user_id)
    tx = await fetchrow(
        "SELECT id, kind, ref, run_id, memo, created_at FROM ledger_transactions "
        "WHERE id = $1 AND kind = ANY($2::text[])",
        transaction_id,
        list(RECEIPT_KINDS),
    )
    entries = await _entries(transaction_id, uid) if tx else []
    invoice = None
    if tx is not None and tx["kind"] == "subscription_invoice":
        invoice = await fetchrow(
            "SELECT * FROM subscription_invoices WHERE transaction_id = $1", tx["id"]
        )
    subscriber = invoice is not None and invoice["subscriber_id"] == uid
    if tx is None or not (entries or subscriber):
        raise not_found("This receipt")
    me = await _user(uid)
    base: dict[str, Any] = {
        "id": str(tx["id"]),
        "number": number(int(tx["id"])),
        "issued_at": tx["created_at"],
        "currency": "USD",
        "taxes": None,
        "party": _party(me),
        "url": f"/receipts/{tx['id']}",
    }
    kind = tx["kind"]
    ids = ReceiptIds(transaction_id=str(tx["id"]))
    if kind == "topup":
        return await _topup(tx, entries, base, ids)
    if kind == "payout_created":
        return await _payout(tx, base, ids)
    if invoice is not None:
        return await _invoice(invoice, entries, subscriber, base, ids)
    buyer_side = any(e["account"] in _BUYER for e in entries)
    if buyer_side:
        return await _run_buyer(tx, entries, base, ids)
    return await _run_creator(tx, entries, base, ids)


async def _topup(tx: dict, entries: list, base: dict, ids: ReceiptIds) -> ReceiptOut:
    amount = _sum(entries, {"wallet"})
    top = await fetchrow("SELECT payment_intent_id FROM topups WHERE transaction_id = $1", tx["id"])
    ids.payment_intent_id = top["payment_intent_id"] if top else None
    return ReceiptOut(
        **base,
        kind="topup",
        role="buyer",
        title="Wallet top-up",
        lines=[
            ReceiptLine(description="Wallet credit, paid by card (Stripe)", amount_cents=amount)
        ],
        subtotal_cents=amount,
        fee_cents=0,
        total_cents=amount,
        ids=ids,
    )


async def _payout(tx: dict, base: dict, ids: ReceiptIds) -> ReceiptOut:
    row = await fetchrow(
        "SELECT id, amount_cents, status, transfer_id, failure_reason, updated_at "
        "FROM payouts WHERE created_transaction_id = $1",
        tx["id"],
    )
    if row is None:
        raise not_found("This receipt")
    amount = int(row["amount_cents"])
    ids.payout_id = str(row["id"])
    ids.transfer_id = row["transfer_id"]
    status = {"in_transit": "in transit", "paid": "paid", "failed": "returned"}[row["status"]]
    lines = [
        ReceiptLine(
            description="Payout of available earnings (Stripe Connect)", amount_cents=amount
        )
    ]
    if row["status"] == "failed":
        lines.append(
            ReceiptLine(
                description=f"Returned to available earnings: {row['failure_reason'] or 'refused'}",
                amount_cents=-amount,
            )
        )
    return ReceiptOut(
        **base,
        kind="payout",
        role="creator",
        title=f"Payout ({status})",
        lines=lines,
        subtotal_cents=amount,
        fee_cents=0,
        total_cents=amount if row["status"] != "failed" else 0,
        status=row["status"],
        updated_at=row["updated_at"],
        ids=ids,
    )


async def _invoice(
    invoice: dict, entries: list, subscriber: bool, base: dict, ids: ReceiptIds
) -> ReceiptOut:
    """A paid subscription invoice: what the subscriber paid by card, or the creator's sale."""
    sub = await fetchrow(
        "SELECT stripe_subscription_id, creator_id, subscriber_id, runs_included "
        "FROM subscriptions WHERE id = $1",
        invoice["subscription_id"],
    )
    assert sub is not None
    ids.subscription_id = str(invoice["subscription_id"])
    ids.invoice_id = invoice["stripe_invoice_id"]
    creator = _party(await _user(sub["creator_id"]))
    handle = f"@{creator.handle}" if creator else "a creator"
    period = (
        f"{invoice['period_start']:%d %b %Y} – {invoice['period_end']:%d %b %Y}, "
        f"{sub['runs_included']} runs included"
    )
    amount = int(invoice["amount_cents"])
    if subscriber:
        return ReceiptOut(
            **base,
            kind="subscription_invoice",
            role="buyer",
            title=f"Monthly plan of {handle}",
            lines=[
                ReceiptLine(
                    description=f"Subscription ({period}), paid by card", amount_cents=amount
                )
            ],
            subtotal_cents=amount,
            fee_cents=0,
            total_cents=amount,
            counterparty=creator,
            ids=ids,
        )
    fee, earning = int(invoice["fee_cents"]), int(invoice["earning_cents"])
    return ReceiptOut(
        **base,
        kind="subscription_sale",
        role="creator",
        title="Subscription to your plan",
        lines=[
            ReceiptLine(
                description=f"A subscriber's monthly invoice ({period})", amount_cents=amount
            ),
            ReceiptLine(description="Platform fee", amount_cents=-fee),
        ],
        subtotal_cents=amount,
        fee_cents=fee,
        total_cents=earning,
        counterparty=_party(await _user(sub["subscriber_id"])),
        ids=ids,
    )


async def _run_context(tx: dict) -> dict[str, Any]:
    row = await fetchrow(
        "SELECT r.id, r.prompt_id, r.buyer_id, r.price_cents, r.hold_cents, r.charge_cents, "
        "r.refunded_cents, r.status, p.title, p.owner_id FROM runs r "
        "LEFT JOIN prompts p ON p.id = r.prompt_id WHERE r.id = $1",
        tx["run_id"],
    )
    return row or {}


async def _run_buyer(tx: dict, entries: list, base: dict, ids: ReceiptIds) -> ReceiptOut:
    run = await _run_context(tx)
    ids.run_id = str(tx["run_id"])
    ids.prompt_id = str(run["prompt_id"]) if run.get("prompt_id") else None
    prompt = (
        ReceiptPrompt(id=str(run["prompt_id"]), title=run["title"]) if run.get("title") else None
    )
    creator = _party(await _user(run.get("owner_id")))
    title = f"“{run['title']}”" if run.get("title") else "a prompt"
    # The buyer's accounts: the hold empties, what was not charged comes back.
    net = _sum(entries, _BUYER)
    promo_net = _sum(entries, _PROMO)
    kind = tx["kind"]
    if kind == "run_admin_refund":
        return ReceiptOut(
            **base,
            kind="refund",
            role="buyer",
            title=f"Refund of a run of {title}",
            lines=[ReceiptLine(description="Refunded by support", amount_cents=net)],
            subtotal_cents=net,
            fee_cents=0,
            total_cents=net,
            prompt=prompt,
            counterparty=creator,
            ids=ids,
        )
    charge = -net
    if charge <= 0:
        reason = "the run failed" if kind == "run_refund" else "it was cancelled before any output"
        return ReceiptOut(
            **base,
            kind="run_refund",
            role="buyer",
            title=f"Run of {title}: nothing charged",
            lines=[
                ReceiptLine(
                    description="Held when the run started",
                    amount_cents=int(run.get("hold_cents") or 0),
                ),
                ReceiptLine(
                    description=f"Released in full: {reason}",
                    amount_cents=-int(run.get("hold_cents") or 0),
                ),
            ],
            subtotal_cents=0,
            fee_cents=0,
            total_cents=0,
            prompt=prompt,
            counterparty=creator,
            ids=ids,
        )
    price = min(int(run.get("price_cents") or 0), charge)
    lines = [ReceiptLine(description=f"Run of {title}", amount_cents=price)]
    if charge - price:
        lines.append(ReceiptLine(description="Model usage", amount_cents=charge - price))
    paid_promo = -promo_net
    return ReceiptOut(
        **base,
        kind="run_charge",
        role="buyer",
        title=f"Run of {title}"
        + (" (cancelled after output began)" if kind == "run_cancel" else ""),
        lines=lines,
        subtotal_cents=charge,
        fee_cents=0,
        total_cents=charge,
        paid_with_wallet_cents=charge - paid_promo,
        paid_with_promo_cents=paid_promo,
        prompt=prompt,
        counterparty=creator,
        ids=ids,
    )


async def _run_creator(tx: dict, entries: list, base: dict, ids: ReceiptIds) -> ReceiptOut:
    run = await _run_context(tx)
    ids.run_id = str(tx["run_id"])
    ids.prompt_id = str(run["prompt_id"]) if run.get("prompt_id") else None
    prompt = (
        ReceiptPrompt(id=str(run["prompt_id"]), title=run["title"]) if run.get("title") else None
    )
    buyer = _party(await _user(run.get("buyer_id")))
    title = f"“{run['title']}”" if run.get("title") else "a prompt"
    sale = await fetchrow(
        "SELECT gross_cents, fee_cents, earning_cents, withheld_cents, promo_gross_cents "
        "FROM sales WHERE run_id = $1",
        tx["run_id"],
    )
    if tx["kind"] == "run_admin_refund" or sale is None:
        net = _sum(entries, _CREATOR)
        return ReceiptOut(
            **base,
            kind="sale_refund",
            role="creator",
            title=f"Sale of {title} refunded by support",
            lines=[ReceiptLine(description="Your earning, taken back", amount_cents=net)],
            subtotal_cents=net,
            fee_cents=0,
            total_cents=net,
            prompt=prompt,
            counterparty=buyer,
            ids=ids,
        )
    gross, fee, earning = (
        int(sale["gross_cents"]),
        int(sale["fee_cents"]),
        int(sale["earning_cents"]),
    )
    withheld = int(sale["withheld_cents"])
    lines = [
        ReceiptLine(description=f"Sale: a run of {title}", amount_cents=gross),
        ReceiptLine(description="Platform fee", amount_cents=-fee),
    ]
    if withheld:
        lines.append(
            ReceiptLine(
                description="Funded by promotional credits beyond this month's cap: not paid out",
                amount_cents=-withheld,
            )
        )
    return ReceiptOut(
        **base,
        kind="sale",
        role="creator",
        title=f"Sale of {title}",
        lines=lines,
        subtotal_cents=gross,
        fee_cents=fee,
        total_cents=earning - withheld,
        prompt=prompt,
        counterparty=buyer,
        ids=ids,
    )


async def list_receipts(user_id: str, limit: int, cursor: str | None) -> ReceiptPage:
    """Newest first: one item per transaction with a receipt that moved the user's money."""
    before = decode_cursor(cursor, "receipts", int, int)[1] if cursor else 2**62
    rows = await fetch(
        "SELECT * FROM ("
        "  SELECT t.id, t.kind, t.created_at, sum(e.amount) AS net, "
        "  bool_or(a.kind = ANY($4::text[])) AS buyer_side "
        "  FROM ledger_accounts a JOIN ledger_entries e ON e.account_id = a.id "
        "  JOIN ledger_transactions t ON t.id = e.transaction_id "
        "  WHERE a.user_id = $1 AND t.kind = ANY($2::text[]) AND t.id < $3 GROUP BY t.id "
        "  UNION ALL "
        # A subscriber's invoices: paid by card, so no entry of theirs is in the transaction.
        "  SELECT t.id, t.kind, t.created_at, -i.amount_cents, true "
        "  FROM subscription_invoices i JOIN ledger_transactions t ON t.id = i.transaction_id "
        "  WHERE i.subscriber_id = $1 AND t.id < $3"
        ") r ORDER BY id DESC LIMIT $5",
        uuid.UUID(user_id),
        list(RECEIPT_KINDS),
        before,
        list(ledger.BUYER_KINDS),
        limit + 1,
    )
    items = [
        ReceiptSummary(
            id=str(r["id"]),
            number=number(int(r["id"])),
            transaction_kind=r["kind"],
            role="buyer" if r["buyer_side"] or r["kind"] == "topup" else "creator",
            issued_at=r["created_at"],
            amount_cents=int(r["net"]),
            url=f"/receipts/{r['id']}",
        )
        for r in rows[:limit]
    ]
    next_cursor = (
        encode_cursor("receipts", int(items[-1].id), int(items[-1].id))
        if len(rows) > limit
        else None
    )
    return ReceiptPage(items=items, next_cursor=next_cursor)


async def transaction_for(ref: str, user_id: str) -> int | None:
    """A receipt id from a page link: a transaction id, `sale-<run id>`, `payout-<payout id>`
    or `run-<run id>` (the run's final transaction); only for the user's own records."""
    uid = uuid.UUID(user_id)
    if ref.isdigit():
        return int(ref) if len(ref) <= 18 else None
    kind, _, raw = ref.partition("-")
    try:
        key = uuid.UUID(raw)
    except ValueError:
        return None
    if kind == "sale":
        row = await fetchrow(
            "SELECT transaction_id AS id FROM sales WHERE run_id = $1 AND creator_id = $2", key, uid
        )
    elif kind == "payout":
        row = await fetchrow(
            "SELECT created_transaction_id AS id FROM payouts WHERE id = $1 AND creator_id = $2",
            key,
            uid,
        )
    elif kind == "run":
        row = await fetchrow(
            "SELECT t.id FROM ledger_transactions t JOIN runs r ON r.id = t.run_id "
            "WHERE t.run_id = $1 AND r.buyer_id = $2 "
            "AND t.kind IN ('run_settle', 'run_cancel', 'run_refund')",
            key,
            uid,
        )
    else:
        return None
    return int(row["id"]) if row else None
