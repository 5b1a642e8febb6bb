"""Stripe Billing faked at its HTTP boundary (tests/subscriptions/billing_fake.py), served for
the session; each test points the hub's payments at it (and back) through the environment."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from tests.billing.conftest import WEBHOOK_SECRET
from tests.subscriptions.billing_fake import BillingFake


@pytest_asyncio.fixture(scope="session")
async def billing_fake_server() -> AsyncIterator[tuple[BillingFake, str]]:
    import uvicorn

    from hub.dev.embedded import free_port

    fake = BillingFake()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started:
            break
        await asyncio.sleep(0.025)
    yield fake, f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
def billing(billing_fake_server: tuple[BillingFake, str], hub_server: str) -> Iterator[BillingFake]:
    from hub.platform.settings import get_settings

    fake, url = billing_fake_server
    env = {
        "STRIPE_SECRET_KEY": "sk_test_hub",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "HUB_STRIPE_BILLING_API_BASE": url,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield fake
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
