"""Promotional money on the money pages: a buyer sees which part of the balance is
promotional, a creator sees promotional earnings, the monthly cap and what it withheld."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tests.web.conftest import needs_browser, shot
from tests.web.test_browser import finished_run, start_run

pytestmark = needs_browser


async def test_the_wallet_shows_promotional_credits_apart(pages, client, register, new_prompt):
    from playwright.async_api import expect

    creator, buyer = await register(), await register()
    page = await pages.open("/wallet", account=buyer)
    await expect(page.locator("[data-balance]")).to_have_text("$5.00")
    await expect(page.locator("[data-promo-balance]")).to_have_text("$5.00")
    note = page.locator("[data-promo-note]")
    await expect(note).to_contain_text("spent before the rest of your balance")
    await expect(note).to_contain_text("never be withdrawn")
    await expect(page.locator("table.ledger tbody tr").first).to_contain_text("promotional credits")
    p = await new_prompt(creator, price_cents=10)
    run = await start_run(client, buyer, p["id"], max_tokens=30)
    done = await finished_run(client, buyer, run["id"])
    left = f"${(500 - done['charge_cents']) / 100:.2f}"
    # Promotional credits pay first: here they paid it all.
    await expect(page.locator("[data-promo-balance]")).to_have_text(left)
    await expect(page.locator("[data-balance]")).to_have_text(left)


async def test_the_dashboard_explains_promotional_earnings_and_the_cap(
    pages, client, register, new_prompt
):
    """Three new accounts spend their starter credits on a 499-cent prompt: 3 x 399 cents of
    promotional earnings, 1000 payable this month, 197 withheld, each said on the page."""
    from playwright.async_api import expect

    creator = await register()
    p = await new_prompt(creator, price_cents=499)
    page = await pages.open("/dashboard", account=creator)
    await expect(page.locator("[data-earnings=promo-pending]")).to_have_text("$0.00")
    cap = page.locator("[data-promo-cap]")
    await expect(cap).to_contain_text("up to $10.00 of their earnings a calendar month")
    await expect(cap).to_contain_text("never paid")
    month = datetime.now(UTC).month
    buyers = [await register() for _ in range(3)]
    runs = await asyncio.gather(*(start_run(client, b, p["id"], max_tokens=1) for b in buyers))
    for b, r in zip(buyers, runs, strict=True):
        assert (await finished_run(client, b, r["id"]))["status"] == "completed"
    rows = page.locator("tr[data-sale]")
    await expect(rows).to_have_count(3, timeout=20_000)
    await expect(page.locator("[data-earnings=pending]")).to_have_text("$10.00")
    await expect(page.locator("[data-earnings=promo-pending]")).to_have_text("$10.00")
    await expect(page.locator("[data-earnings=withheld]")).to_have_text("$1.97")
    if datetime.now(UTC).month == month:  # the cap is per calendar month
        await expect(page.locator("[data-earnings=promo-month]")).to_have_text("$10.00 of $10.00")
    for i in range(3):
        await expect(rows.nth(i).locator(".pill")).to_have_text("promotional")
    await expect(page.locator("[data-withheld]")).to_have_text("$1.97 withheld")
    await shot(page, "dashboard-promotional")
    wallet = await pages.open("/wallet", context=page.context)
    await expect(wallet.locator("table.ledger")).to_contain_text("promotional earnings, withheld")
