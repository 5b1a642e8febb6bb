"""Users, prompts and runs on a fault stack, through its REST API."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from tests.conftest import Account, unique


async def register(api: httpx.AsyncClient) -> Account:
    """Register and verify the address (which grants the starter credits) through the link
    the stack mailed to the session's SMTP server (`api.mailbox`)."""
    handle = unique("f_")
    body = {"email": f"{handle}@example.com", "password": "correct horse battery", "handle": handle}
    r = await api.post("/auth/register", json=body)
    assert r.status_code == 201, r.text
    mailbox = getattr(api, "mailbox", None)
    if mailbox is not None:
        mail = await mailbox.wait_for(body["email"], "Confirm your email")
        v = await api.post("/auth/verify-email", json={"token": mail.token("verify-email")})
        assert v.status_code == 200, v.text
    return Account(r.json())


async def make_prompt(api: httpx.AsyncClient, creator: Account, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Tiny story",
        "description": "A tiny story about a topic.",
        "template": "Write a tiny story about {{topic}}.",
        "model": "demo",
        "price_cents": 10,
        "private_mode": False,
        "tags": ["story"],
        **overrides,
    }
    r = await api.post("/prompts", json=body, headers=creator.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def start_run(
    api: httpx.AsyncClient, buyer: Account, prompt_id: str, max_tokens: int = 30, **body: Any
) -> dict[str, Any]:
    r = await api.post(
        f"/prompts/{prompt_id}/runs",
        json={"inputs": {"topic": "tea"}, "max_tokens": max_tokens, **body},
        headers={**buyer.headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 202, r.text
    return r.json()


async def wait_run(
    api: httpx.AsyncClient, buyer: Account, run_id: str, within: float = 30.0, until: Any = None
) -> dict[str, Any]:
    """Poll GET /runs/{id} until `until(run)` (default: a terminal status); 503s are waited out."""
    until = until or (lambda run: run["status"] in ("completed", "failed", "canceled"))
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        r = await api.get(f"/runs/{run_id}", headers=buyer.headers)
        if r.status_code == 200:
            last = r.json()
            if until(last):
                return last
        else:
            assert r.status_code == 503, r.text
            last = r.text
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} did not get there in {within}s: {last}")
