"""Helpers shared by the runs, billing and provider tests."""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from typing import Any

import httpx

from hub import live
from hub.platform.db import fetch

TERMINAL_TYPES = ("run.completed", "run.failed", "run.canceled")


async def make_prompt(client: httpx.AsyncClient, creator: Any, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Tiny story",
        "description": "A tiny story about a topic.",
        "template": "Write a tiny story about {{topic}}.",
        "model": "demo",
        "price_cents": 40,
        "private_mode": False,
        "tags": ["story"],
    }
    body.update(overrides)
    r = await client.post("/prompts", json=body, headers=creator.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def start(
    client: httpx.AsyncClient,
    buyer: Any,
    prompt_id: str,
    *,
    inputs: dict[str, str] | None = None,
    key: str | None = None,
    **body: Any,
) -> httpx.Response:
    payload = {"inputs": {"topic": "tea"} if inputs is None else inputs, **body}
    headers = {**buyer.headers, "Idempotency-Key": key or str(uuid.uuid4())}
    return await client.post(f"/prompts/{prompt_id}/runs", json=payload, headers=headers)


async def wait_run(
    client: httpx.AsyncClient,
    account: Any,
    run_id: str,
    until: Any = None,
    within: float = 15.0,
) -> dict[str, Any]:
    """Poll GET /runs/{id} until `until(run)` (default: a terminal status)."""
    until = until or (lambda run: run["status"] in ("completed", "failed", "canceled"))
    deadline = time.monotonic() + within
    while True:
        r = await client.get(f"/runs/{run_id}", headers=account.headers if account else {})
        assert r.status_code == 200, r.text
        run = r.json()
        if until(run):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run did not reach the expected state in {within}s: {run}")
        await asyncio.sleep(0.03)


async def eventually(check: Any, within: float = 10.0, what: str = "the condition") -> Any:
    """Poll `check()` (sync or async) until it returns something truthy; fail after `within` s.

    For effects that happen right after a commit (a terminal event's stream position, the
    live index): the test waits for the effect itself, never for a fixed time.
    """
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within}s")
        await asyncio.sleep(0.02)


async def wallet(client: httpx.AsyncClient, account: Any) -> dict[str, Any]:
    r = await client.get("/me/wallet", headers=account.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def run_transactions(run_id: str) -> dict[str, dict[str, int]]:
    """{tx kind: {account kind (or 'platform:<kind>'): amount}} for one run."""
    rows = await fetch(
        "SELECT t.kind AS tx, a.kind, a.user_id, e.amount FROM ledger_transactions t "
        "JOIN ledger_entries e ON e.transaction_id = t.id JOIN ledger_accounts a ON a.id = e.account_id "
        "WHERE t.run_id = $1 ORDER BY t.id, e.id",
        uuid.UUID(run_id),
    )
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["tx"], {})[r["kind"]] = int(r["amount"])
    return out


class LiveRecorder:
    """Records every publication made through hub.live (the realtime boundary), passing each
    through to the installed engine. Use as `with LiveRecorder() as rec:`."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._publish: Any = None
        self._disconnect: Any = None
        self._publish_many: Any = None
        self._publish_stream: Any = None

    def __enter__(self) -> LiveRecorder:
        self._publish, self._disconnect = live._publish, live._disconnect
        self._publish_many = live._publish_many
        self._publish_stream = live._publish_stream
        live.install(self._record, self._disconnect)  # batches fall back to _record one by one
        live.install_stream(None)
        return self

    def __exit__(self, *exc: Any) -> None:
        live.install(self._publish, self._disconnect, self._publish_many)
        live.install_stream(self._publish_stream)

    async def _record(self, channel: str, data: dict[str, Any], **kw: Any) -> Any:
        snapshot = copy.deepcopy(data)
        result = await self._publish(channel, data, **kw) if self._publish is not None else None
        if not getattr(result, "duplicate", False):  # a repeated idempotent publish sent nothing
            self.events.append((channel, snapshot))
        return result

    def on(self, channel: str, type_: str | None = None) -> list[dict[str, Any]]:
        return [
            d for c, d in self.events if c == channel and (type_ is None or d.get("type") == type_)
        ]

    async def wait_for(
        self, channel: str, type_: str | None = None, within: float = 10.0
    ) -> dict[str, Any]:
        """The first publication of this type on the channel, waiting for it if needed."""
        deadline = time.monotonic() + within
        while not self.on(channel, type_):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {type_ or 'publication'} on {channel} in {within}s")
            await asyncio.sleep(0.02)
        return self.on(channel, type_)[0]

    def run_events(self, run_id: str) -> list[dict[str, Any]]:
        return self.on(f"runs:{run_id}")

    def terminals(self, run_id: str) -> list[dict[str, Any]]:
        return [d for d in self.run_events(run_id) if d["type"] in TERMINAL_TYPES]
