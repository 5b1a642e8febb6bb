"""Client IPs: X-Forwarded-For counts only when a trusted proxy (HUB_TRUSTED_PROXIES; in the
test session 127.0.0.2) sends it; from anyone else it is ignored, so a client cannot pick a
fresh IP per request to dodge the per-IP sign-in lockout."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
import pytest_asyncio

from hub.accounts import service as accounts
from hub.platform.client_ip import client_from, parse_networks
from hub.platform.settings import get_settings
from tests.problems import assert_problem

PER_IP = 3


@pytest.fixture
def low_ip_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three failed sign-ins per IP (per account stays high), for the app in this process."""
    limited = msgspec.structs.replace(
        get_settings(), login_max_failures_per_ip=PER_IP, login_max_failures_per_account=1000
    )
    monkeypatch.setattr(accounts, "get_settings", lambda: limited)


@pytest_asyncio.fixture
async def from_address(hub_server: str) -> AsyncIterator:
    """httpx clients whose connections come from a chosen loopback address."""
    opened: list[httpx.AsyncClient] = []

    def make(address: str) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=address)
        c = httpx.AsyncClient(base_url=hub_server + "/api/v1", transport=transport, timeout=30)
        opened.append(c)
        return c

    yield make
    for c in opened:
        await c.aclose()


async def _fail(c: httpx.AsyncClient, forwarded_for: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    email = f"nobody{random.randrange(10**9)}@example.com"
    return await c.post(
        "/auth/login", json={"email": email, "password": "wrong password"}, headers=headers
    )


def _loopback() -> str:
    """A loopback address of this test's own (not .1, the shared one, nor .2, the proxy)."""
    return f"127.{random.randrange(1, 255)}.{random.randrange(255)}.{random.randrange(3, 255)}"


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(from_address, low_ip_limit):
    c = from_address(_loopback())
    for i in range(PER_IP):
        assert (await _fail(c, f"198.51.100.{i}")).status_code == 401
    # A new made-up address changes nothing: the lockout follows the real peer.
    r = await _fail(c, "198.51.100.99")
    assert "Too many failed sign-in attempts" in assert_problem(r, 429)["detail"]


async def test_a_trusted_proxy_names_the_client(from_address, low_ip_limit):
    proxy = from_address("127.0.0.2")
    client_ip = f"203.0.113.{random.randrange(1, 255)}"
    for _ in range(PER_IP):
        # The client's own (spoofable) claim comes first; our proxy appends the real peer.
        assert (await _fail(proxy, f"10.9.9.9, {client_ip}")).status_code == 401
    assert_problem(await _fail(proxy, f"10.1.1.1, {client_ip}"), 429)
    # Another client behind the same proxy is not locked out by the first one.
    other = f"203.0.114.{random.randrange(1, 255)}"
    assert (await _fail(proxy, other)).status_code == 401


def test_the_rightmost_untrusted_hop_is_the_client():
    nets = parse_networks(["10.0.0.0/8", "::1"])
    assert client_from("10.0.0.5", ["1.2.3.4, 10.0.0.7"], nets) == "1.2.3.4"
    assert client_from("10.0.0.5", ["6.6.6.6, 1.2.3.4"], nets) == "1.2.3.4"
    assert client_from("10.0.0.5", ["1.2.3.4", "10.1.1.1"], nets) == "1.2.3.4"
    assert client_from("192.0.2.1", ["1.2.3.4"], nets) == "192.0.2.1"  # untrusted peer
    assert client_from("10.0.0.5", ["not-an-ip"], nets) == "10.0.0.5"
    assert client_from("::1", ["[2001:db8::1]:443"], nets) == "2001:db8::1"
    assert client_from("10.0.0.5", ["1.2.3.4"], ()) == "10.0.0.5"  # nothing trusted


async def test_loopback_is_not_trusted_unless_configured(client, low_ip_limit):
    """The test session trusts only 127.0.0.2: a client on 127.0.0.1 cannot pick its IP (uvicorn
    itself would have believed 127.0.0.1 by default)."""
    from hub.platform.redis import get_redis

    await get_redis().delete("hub:login:fail:ip:127.0.0.1")
    for i in range(PER_IP):
        assert (await _fail(client, f"198.51.100.{i}")).status_code == 401
    assert_problem(await _fail(client, "198.51.100.200"), 429)
    await get_redis().delete("hub:login:fail:ip:127.0.0.1")
