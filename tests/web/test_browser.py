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
