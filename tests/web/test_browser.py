"""The web client in headless Chromium (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import unique

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = (
    os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
CENTRIFUGE_JS = ROOT / "node_modules" / "centrifuge" / "dist" / "centrifuge.js"

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
    ),
    pytest.mark.skipif(not CENTRIFUGE_JS.exists(), reason="node_modules missing (npm ci)"),
]


@pytest_asyncio.fixture
async def page(hub_server: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = await browser.new_context()
        pg = await context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.errors = errors  # type: ignore[attr-defined]
        await pg.goto(hub_server + "/")
        yield pg
        await browser.close()


async def test_register_chat_and_receive_live(page, client, register):
    from playwright.async_api import expect

    await expect(page.locator("#status")).to_have_text("live", timeout=10000)
    await expect(page.locator("#chat-text")).to_be_disabled()
    # Register through the UI.
    handle = unique("web_")
    await page.click("#show-register")
    await page.fill("#reg-email", f"{handle}@example.com")
    await page.fill("#reg-handle", handle)
    await page.fill("#reg-password", "correct horse battery")
    await page.click("#register-form button[type=submit]")
    await expect(page.locator("#me-handle")).to_have_text(f"@{handle}", timeout=10000)
    await expect(page.locator("#login-form")).to_be_hidden()
    await expect(page.locator("#register-form")).to_be_hidden()
    await expect(page.locator("#status")).to_have_text("live", timeout=10000)
    await expect(page.locator("#chat-text")).to_be_enabled()
    await expect(page.locator("#presence")).to_contain_text("signed in", timeout=10000)
    # Chat through the realtime publish path; the message comes back through the channel.
    text = f"hello from the browser {unique()}"
    await page.fill("#chat-text", text)
    await page.click("#chat-send")
    await expect(page.locator("#messages li", has_text=text)).to_have_count(1, timeout=10000)
    # Someone else's message arrives live, rendered as text (no HTML injection).
    other = await register()
    evil = f"<img src=x onerror=alert(1)> {unique()}"
    r = await client.post("/rooms/lobby/messages", headers=other.headers, json={"text": evil})
    assert r.status_code == 201
    await expect(page.locator("#messages li", has_text=evil)).to_have_count(1, timeout=10000)
    assert await page.locator("#messages img").count() == 0
    assert page.errors == []  # type: ignore[attr-defined]


async def test_buyer_runs_a_private_prompt_and_watches_it_stream(page, client, register):
    from playwright.async_api import expect

    creator, buyer = await register(), await register()
    word = unique("zq")
    marker = unique("SECRET")
    r = await client.post(
        "/prompts",
        headers=creator.headers,
        json={
            "title": f"Haiku maker {word}",
            "description": "Writes a haiku",
            "template": f"{marker} Write a haiku about {{{{topic}}}}",
            "model": "demo",
            "price_cents": 10,
            "private_mode": True,
            "tags": ["poetry"],
        },
    )
    assert r.status_code == 201, r.text
    await page.fill("#login-email", buyer["email"])
    await page.fill("#login-password", buyer["password"])
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#me-handle")).to_have_text(f"@{buyer.handle}", timeout=10000)
    await expect(page.locator("#wallet")).to_have_text("$5.00", timeout=10000)
    await page.fill("#search-q", word)
    await page.click("#search-form button[type=submit]")
    await page.locator("#prompt-list li", has_text=word).click()
    await expect(page.locator("#prompt-title")).to_contain_text(word)
    await expect(page.locator("#prompt-private")).to_be_visible()
    await expect(page.locator("#prompt-template")).to_be_hidden()
    await page.fill("#run-inputs input[name=topic]", "autumn rain")
    await page.fill("#run-max-tokens", "40")
    await page.click("#run-button")
    await expect(page.locator("#run-status")).to_have_text("completed", timeout=20000)
    await expect(page.locator("#run-result")).to_contain_text("charged")
    output = await page.locator("#run-output").text_content()
    assert output and len(output.split()) >= 10
    assert marker not in (await page.content())
    # The wallet shows the balance after the charge, pushed live (wallet.updated) or reloaded.
    await expect(page.locator("#wallet")).not_to_have_text("$5.00", timeout=10000)
    runs = (await client.get("/me/runs", headers=buyer.headers)).json()["items"]
    assert runs[0]["status"] == "completed"
    assert output == runs[0]["output"]
    if os.environ.get("HUB_SCREENSHOT"):
        await page.set_viewport_size({"width": 1400, "height": 900})
        await page.screenshot(path=os.environ["HUB_SCREENSHOT"], full_page=True)
    assert page.errors == []  # type: ignore[attr-defined]


async def test_creator_sees_a_sale_arrive_live(page, client, register):
    from playwright.async_api import expect

    creator, buyer = await register(), await register()
    r = await client.post(
        "/prompts",
        headers=creator.headers,
        json={"title": f"Seller {unique()}", "template": "Say hi to {{name}}", "price_cents": 50},
    )
    assert r.status_code == 201, r.text
    await page.fill("#login-email", creator["email"])
    await page.fill("#login-password", creator["password"])
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#status")).to_have_text("live", timeout=10000)
    await expect(page.locator("#creator-panel")).to_be_hidden()
    run = await client.post(
        f"/prompts/{r.json()['id']}/runs",
        headers={**buyer.headers, "Idempotency-Key": unique()},
        json={"inputs": {"name": "Ada"}, "max_tokens": 10},
    )
    assert run.status_code == 202, run.text
    # 80% of 50 cents, pushed on sales#<creator> when the run completes.
    await expect(page.locator("#sales li")).to_have_text(
        ["+$0.40 (price $0.50, fee $0.10)"], timeout=15000
    )
    await expect(page.locator("#earnings")).to_contain_text("pending $0.40")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_run_form_states_the_cancel_rule_and_pins_the_price(page, client, register):
    """The buyer is told what cancelling costs, and is charged the price they were shown."""
    from playwright.async_api import expect

    creator, buyer = await register(), await register()
    word = unique("pin")
    r = await client.post(
        "/prompts",
        headers=creator.headers,
        json={"title": f"Pinned {word}", "template": "Say hi to {{name}}", "price_cents": 49},
    )
    assert r.status_code == 201, r.text
    prompt_id = r.json()["id"]
    await page.fill("#login-email", buyer["email"])
    await page.fill("#login-password", buyer["password"])
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#me-handle")).to_have_text(f"@{buyer.handle}", timeout=10000)
    await page.fill("#search-q", word)
    await page.click("#search-form button[type=submit]")
    await page.locator("#prompt-list li", has_text=word).click()
    estimate = page.locator("#run-estimate")
    await expect(estimate).to_contain_text("price $0.49", timeout=10000)
    await expect(estimate).to_contain_text("before the first output token costs nothing")
    await expect(estimate).to_contain_text("full price plus the usage so far")

    r = await client.patch(
        f"/prompts/{prompt_id}", json={"price_cents": 451}, headers=creator.headers
    )
    assert r.status_code == 200, r.text
    await page.fill("#run-inputs input[name=name]", "Ada")
    await page.click("#run-button")
    await expect(page.locator("#toast")).to_contain_text("451 cents", timeout=10000)
    await expect(estimate).to_contain_text("price $4.51", timeout=10000)
    assert (await client.get("/me/runs", headers=buyer.headers)).json()["items"] == []
    wallet = (await client.get("/me/wallet", headers=buyer.headers)).json()
    assert (wallet["balance_cents"], wallet["held_cents"]) == (500, 0)
    assert page.errors == []  # type: ignore[attr-defined]
