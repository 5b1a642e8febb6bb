"""Browser fixtures: one headless Chromium (Debian's) per session, a fresh context per user.

Tests isolate themselves by data (new accounts, prompts, rooms), never by restarting servers.
Every page a test visits can be saved as a screenshot (`shot`) under .testdata/screenshots/
(git-ignored); `HUB_DOCS_SCREENSHOTS=1` also refreshes the few committed in docs/screenshots/.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.billing.conftest import localstripe  # noqa: F401 - the Stripe double, shared
from tests.providers.conftest import fake_model, fake_openai  # noqa: F401 - an echoing model

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = (
    os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
NODE_MODULES = ROOT / "node_modules"
SHOTS = ROOT / ".testdata" / "screenshots"
DOCS_SHOTS = ROOT / "docs" / "screenshots"

needs_browser = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
    ),
    pytest.mark.skipif(
        not (NODE_MODULES / "htmx.org").exists() or not (NODE_MODULES / "centrifuge").exists(),
        reason="node_modules missing (npm ci)",
    ),
]


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        await b.close()


def session_script(account: dict[str, Any]) -> str:
    """What app.js keeps in localStorage after signing in, for contexts that skip the form."""
    import jwt

    claims = jwt.decode(account["access_token"], options={"verify_signature": False})
    session = {
        "access": account["access_token"],
        "refresh": account["refresh_token"],
        "exp": claims["exp"] * 1000,
        "user": account["user"],
    }
    # Only once: a reload keeps whatever the page stored since (refreshed tokens, sign-out).
    return (
        "if (!sessionStorage.getItem('bp.seeded')) { sessionStorage.setItem('bp.seeded', '1');"
        f" localStorage.setItem('bp.session', {json.dumps(json.dumps(session))}); }}"
    )


class Pages:
    """Opens pages in new contexts and collects the script errors of each."""

    def __init__(self, browser: Any, base: str) -> None:
        self.browser = browser
        self.base = base
        self.contexts: list[Any] = []
        self.errors: list[str] = []

    async def open(
        self,
        path: str = "/",
        *,
        account: dict[str, Any] | None = None,
        width: int = 1280,
        height: int = 900,
        context: Any = None,
    ) -> Any:
        if context is None:
            context = await self.browser.new_context(
                viewport={"width": width, "height": height}, base_url=self.base
            )
            if account is not None:
                await context.add_init_script(session_script(account))
            self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc} {exc.stack}"))
        page.on("console", lambda msg: self._console(page, msg))
        await page.goto(path)
        return page

    def _console(self, page: Any, msg: Any) -> None:
        # A 4xx answer is a state the page shows (sign in, not enough credits); 5xx is a bug.
        expected = ("status of 4", "ERR_INTERNET_DISCONNECTED")  # states the page shows
        if msg.type == "error" and not any(e in msg.text for e in expected):
            self.errors.append(f"{page.url}: {msg.text} {msg.args[1:2] if msg.args else ''}")

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest_asyncio.fixture
async def pages(browser: Any, hub_server: str) -> AsyncIterator[Pages]:
    p = Pages(browser, hub_server)
    yield p
    await p.close()
    assert p.errors == [], p.errors


async def shot(page: Any, name: str, *, docs: bool = False) -> None:
    """Save a full-page screenshot (and a docs copy when asked and enabled)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    if docs and os.environ.get("HUB_DOCS_SCREENSHOTS"):
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(DOCS_SHOTS / f"{name}.png"), full_page=False)


@pytest.fixture
def new_prompt(client: Any) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def create(account: Any, **overrides: Any) -> dict[str, Any]:
        from tests.conftest import unique

        body = {
            "title": f"Haiku maker {unique('t')}",
            "description": "Writes a haiku about anything.",
            "template": "Write a haiku about {{topic}}",
            "model": "demo",
            "price_cents": 10,
            "private_mode": True,
            "tags": ["poetry"],
            "sample_inputs": {"topic": "autumn rain"},
        }
        body.update(overrides)
        r = await client.post("/prompts", headers=account.headers, json=body)
        assert r.status_code == 201, r.text
        return r.json()

    return create
