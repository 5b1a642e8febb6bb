"""Stripe Billing faked at its HTTP boundary (tests/subscriptions/billing_fake.py), served for
the session; each test points the hub's payments at it (and back) through the environment."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from tests.billing.conftest import WEBHOOK_SECRET
from tests.env import settings_env
from tests.fake_http import serve
from tests.subscriptions.billing_fake import BillingFake


@pytest_asyncio.fixture(scope="session")
async def billing_fake_server() -> AsyncIterator[tuple[BillingFake, str]]:
    fake = BillingFake()
    async with serve(fake) as url:
        yield fake, url


@pytest.fixture
def billing(billing_fake_server: tuple[BillingFake, str], hub_server: str) -> Iterator[BillingFake]:
    fake, url = billing_fake_server
    env = {
        "STRIPE_SECRET_KEY": "sk_test_hub",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "HUB_STRIPE_BILLING_API_BASE": url,
    }
    with settings_env(env):
        yield fake
