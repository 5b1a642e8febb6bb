from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from hub.providers.models import ModelSpec, register_model, unregister_model
from tests.fake_http import serve
from tests.providers.fake_openai import FakeOpenAI


@pytest_asyncio.fixture(scope="session")
async def fake_openai() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    """The fake provider, served by uvicorn on the session loop."""
    app = FakeOpenAI()
    async with serve(app, lifespan="on", timeout_graceful_shutdown=1) as url:
        yield app, url


@pytest.fixture
def fake_model(fake_openai):
    """fake_model(scenario, **spec overrides) -> (ModelSpec, key); unregistered afterwards."""
    app, url = fake_openai
    names: list[str] = []

    def make(scenario: str, **overrides: Any) -> tuple[ModelSpec, str]:
        key = uuid.uuid4().hex[:10]
        fields: dict[str, Any] = {
            "name": f"fake-{scenario}-{key}",
            "provider": "openai",
            "upstream_model": "fake-model",
            "input_cents_per_1k": 1.0,
            "output_cents_per_1k": 2.0,
            "base_url": f"{url}/{scenario}/{key}/v1",
            "api_key": "sk-test-not-a-secret",
            "max_retries": 2,
            "retry_base_seconds": 0.05,
            "first_token_timeout_seconds": 2.0,
            "read_timeout_seconds": 2.0,
            "breaker_failures": 50,
            "breaker_cooldown_seconds": 1.0,
        }
        fields.update(overrides)
        spec = ModelSpec(**fields)
        register_model(spec)
        names.append(spec.name)
        return spec, key

    yield make
    for name in names:
        unregister_model(name)
