"""Money fixtures: `grant_completed_run` (a real paid run) is shared with the prompts tests;
Stripe is faked at its HTTP boundary (localstripe) for the hub in this process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from hub.dev.embedded import free_port
from tests.prompts.conftest import grant_completed_run  # noqa: F401

WEBHOOK_SECRET = "whsec_test_secret_for_the_hub"


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    port = free_port()
    exe = Path(sys.executable).with_name("localstripe")
    proc = subprocess.Popen(
        [str(exe), "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url + "/v1/customers", auth=("sk_test_hub", ""), timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("localstripe did not start")
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def payments(localstripe: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Payments configured against localstripe for the app running in this process."""
    from hub.billing import topups
    from hub.platform.settings import get_settings

    configured = msgspec.structs.replace(
        get_settings(),
        stripe_secret_key="sk_test_hub",
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=localstripe,
    )
    monkeypatch.setattr(topups, "get_settings", lambda: configured)
    return localstripe
