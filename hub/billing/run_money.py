"""The money side of a run: the hold, and the one final posting that ends it (settle,
refund, cancel), and support's refund of a charged run.

Why a module of its own: these are the postings the runs domain's transitions make, inside
their transactions. Each final posting has the ref `run:<id>:final`, so a run is charged,
refunded or cancelled once, whatever retries and races happen. Promotional credits pay
first; the creator's share of a promo-funded price is capped per month
(HUB_PROMO_EARNINGS_CAP_CENTS).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from hub.billing import ledger
from hub.billing.creators import split_price
from hub.billing.schemas import AdminRefund, Settlement
from hub.community import notifications
from hub.platform.db import fetch, fetchrow
from hub.platform.settings import get_settings


def _uid(value: str | uuid.UUID) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


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
