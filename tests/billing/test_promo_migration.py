"""The migration that keeps promotional money apart reclassifies balances funded by grants
made before it (starter credits used to land in the paid wallet)."""

from __future__ import annotations

import importlib

from hub.billing import ledger, wallets
from hub.platform.db import fetch, run_ddl, transaction
from tests.billing.invariants import assert_ledger_invariants

MIGRATION = importlib.import_module(
    "hub.billing.piccolo_migrations.billing_2026_11_29t12_00_00_000000"
)


async def _legacy_credit(user_id: str, kind: str, amount: int, ref: str) -> None:
    """What the ledger recorded before promo wallets existed: credits into `wallet`."""
    accounts = await ledger.user_accounts(user_id, ["wallet"])
    source = "promotions" if kind != "topup" else "stripe_clearing"
    async with transaction():
        await ledger.post(
            kind,
            ref,
            [(await ledger.platform_account(source), -amount), (accounts["wallet"], amount)],
        )


async def test_legacy_promotional_balances_move_to_the_promo_wallet(register):
    granted = await register(verify=False)  # 500 of old starter credits, 120 spent
    await _legacy_credit(granted.id, "starter_credits", 500, f"legacy:{granted.id}")
    paid = await register(verify=False)  # a card top-up only
    await _legacy_credit(paid.id, "topup", 700, f"legacy:{paid.id}")
    mixed = await register(verify=False)  # 300 granted + 1000 paid, 400 left
    await _legacy_credit(mixed.id, "adjustment", 300, f"legacy:a:{mixed.id}")
    await _legacy_credit(mixed.id, "topup", 1000, f"legacy:t:{mixed.id}")
    for acct, spend in ((granted, 120), (mixed, 900)):
        accounts = await ledger.user_accounts(acct.id, ["wallet"])
        async with transaction():
            await ledger.post(
                "adjustment",
                f"legacy:spend:{acct.id}",
                [
                    (accounts["wallet"], -spend),
                    (await ledger.platform_account("usage_revenue"), spend),
                ],
            )

    do_block = MIGRATION.SQL.split("\n;;\n")[-1]
    await run_ddl(do_block)
    await run_ddl(do_block)  # idempotent: each user is reclassified once

    async def split(acct) -> tuple[int, int]:
        w = await wallets.wallet(acct.id)
        return w.balance_cents - w.promo_balance_cents, w.promo_balance_cents

    assert await split(granted) == (0, 380)
    assert await split(paid) == (700, 0)
    # Spending order is unknown: the promotional part is as large as it could be.
    assert await split(mixed) == (100, 300)
    rows = await fetch(
        "SELECT count(*) AS n FROM ledger_transactions WHERE ref LIKE 'promo-reclassify:%' "
        "AND ref = ANY($1::text[])",
        [f"promo-reclassify:{a.id}" for a in (granted, paid, mixed)],
    )
    assert rows[0]["n"] == 2
    await assert_ledger_invariants()
