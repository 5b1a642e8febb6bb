"""Marketplace community fixtures.

`grant_completed_run(user_id, prompt_id)` satisfies the review rule the way a user does: it
starts a real run of the prompt through the REST API (with a token for that user) and waits
for the worker to complete it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from hub.platform.auth import issue_access_token


@pytest.fixture
def grant_completed_run(
    client: httpx.AsyncClient,
) -> Callable[[str, str], Awaitable[dict[str, Any]]]:
    async def grant(user_id: str, prompt_id: str) -> dict[str, Any]:
        token, _ = issue_access_token(str(user_id), [], str(uuid.uuid4()))
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
        prompt = (await client.get(f"/prompts/{prompt_id}", headers=headers)).json()
        inputs = {name: "test" for name in prompt.get("variables", [])}
        r = await client.post(
            f"/prompts/{prompt_id}/runs", headers=headers, json={"inputs": inputs, "max_tokens": 5}
        )
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        for _ in range(400):
            run = (await client.get(f"/runs/{run_id}", headers=headers)).json()
            if run["status"] in ("completed", "failed", "canceled"):
                break
            await asyncio.sleep(0.05)
        assert run["status"] == "completed", run
        return run

    return grant
