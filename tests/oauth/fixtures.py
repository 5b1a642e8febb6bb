"""The fake identity provider, served for the session, and the hub pointed at it per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio

from tests.env import settings_env
from tests.fake_http import serve
from tests.oauth.fake_provider import GITHUB_CLIENT, GOOGLE_CLIENT, FakeProvider


@pytest_asyncio.fixture(scope="session")
async def fake_idp() -> AsyncIterator[FakeProvider]:
    from hub.dev.embedded import free_port

    fake = FakeProvider()
    port = free_port()
    fake.base = f"http://127.0.0.1:{port}"  # the fake names itself in its discovery document
    async with serve(fake, port):
        yield fake


@pytest.fixture
def oauth_env(fake_idp: FakeProvider, hub_server: str) -> Iterator[FakeProvider]:
    """GitHub and Google configured, both pointing at the fake; redirects to the test hub."""
    env = {
        "HUB_PUBLIC_URL": hub_server,
        "HUB_OAUTH_GOOGLE_CLIENT_ID": GOOGLE_CLIENT[0],
        "HUB_OAUTH_GOOGLE_CLIENT_SECRET": GOOGLE_CLIENT[1],
        "HUB_OAUTH_GOOGLE_ISSUER": fake_idp.base,
        "HUB_OAUTH_GITHUB_CLIENT_ID": GITHUB_CLIENT[0],
        "HUB_OAUTH_GITHUB_CLIENT_SECRET": GITHUB_CLIENT[1],
        "HUB_OAUTH_GITHUB_AUTHORIZE_URL": f"{fake_idp.base}/login/oauth/authorize",
        "HUB_OAUTH_GITHUB_TOKEN_URL": f"{fake_idp.base}/login/oauth/access_token",
        "HUB_OAUTH_GITHUB_API_URL": f"{fake_idp.base}/api",
    }
    with settings_env(env):
        yield fake_idp


class Flow(dict):  # type: ignore[type-arg]
    @property
    def code(self) -> str:
        return str(self["code"])


async def authorize(
    client: httpx.AsyncClient,
    provider: str,
    *,
    headers: dict[str, str] | None = None,
    link: bool = False,
) -> Flow:
    """What the browser does: start, visit the provider, come back with code and state."""
    r = await client.post(
        f"/auth/oauth/{provider}/start", json={"link": link} if link else None, headers=headers
    )
    assert r.status_code == 200, r.text
    started = r.json()
    async with httpx.AsyncClient() as browser:
        at_provider = await browser.get(started["authorization_url"])
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["location"])
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    assert back.path == f"/auth/callback/{provider}"
    assert query["state"] == started["state"]
    return Flow(started, code=query["code"], redirect=at_provider.headers["location"])


async def finish(
    client: httpx.AsyncClient, provider: str, flow: Flow, **override: Any
) -> httpx.Response:
    body = {"code": flow.code, "state": flow["state"], "flow_secret": flow["flow_secret"]}
    body.update(override)
    return await client.post(f"/auth/oauth/{provider}/callback", json=body)
