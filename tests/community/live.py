"""Helpers for the community tests: two users live over the official centrifuge-python SDK,
waiting for state without sleeping-and-hoping, and accounts with roles."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from centrifuge import Client

from hub.platform.db import fetch
from tests.conftest import Account
from tests.realtime.sdk_helpers import Recorder, make_client


async def until(check: Callable[[], Awaitable[Any]], within: float = 10.0) -> Any:
    """Poll `check` until it returns something truthy (with a deadline); return it."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def live(
    ws_url: str, account: Account | None, *channels: str, **kw: Any
) -> AsyncIterator[tuple[Client, dict[str, Recorder]]]:
    """A connected SDK client subscribed to `channels`; yields (client, recorder per channel)."""
    client = make_client(ws_url, token=account.token if account else "")
    await client.connect()
    recs: dict[str, Recorder] = {}
    try:
        for channel in channels:
            rec = Recorder()
            sub = client.new_subscription(channel, rec, **kw)
            await sub.subscribe()
            await sub.ready(5)
            recs[channel] = rec
        yield client, recs
    finally:
        await client.disconnect()


async def subscriber(ws_url: str, token: str, channel: str) -> tuple[Client, Recorder]:
    """A connected SDK client (signed in with `token`, anonymous when empty) subscribed to
    `channel`; the caller disconnects it."""
    client = make_client(ws_url, token=token)
    await client.connect()
    rec = Recorder()
    sub = client.new_subscription(channel, rec)
    await sub.subscribe()
    await sub.ready(5)
    return client, rec


async def subscribe_error(client: Client, channel: str) -> int:
    """The protocol error code a subscription to `channel` ends with (0 when it succeeds)."""
    rec = Recorder()
    sub = client.new_subscription(channel, rec)
    await sub.subscribe()
    await rec.wait_for(lambda: rec.errors or rec.unsubscribed or rec.subscribed)
    if rec.unsubscribed:
        return int(rec.unsubscribed[0].code)
    if rec.errors:
        return int(rec.errors[0].code)
    return 0


def of_type(rec: Recorder, kind: str) -> list[dict[str, Any]]:
    return [d for d in rec.data() if isinstance(d, dict) and d.get("type") == kind]


async def with_role(client: Any, account: Account, role: str) -> Account:
    """Give `account` a role and sign in again, so its access token carries it."""
    await fetch("UPDATE users SET roles = $2 WHERE id = $1::uuid", account.id, [role])
    r = await client.post(
        "/auth/login", json={"email": account["email"], "password": account["password"]}
    )
    assert r.status_code == 200, r.text
    out = Account(account)
    out.update(r.json())
    return out
