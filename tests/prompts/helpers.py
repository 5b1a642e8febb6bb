"""Helpers shared by the marketplace tests."""

from __future__ import annotations

from typing import Any

from tests.problems import PROBLEM, assert_problem  # noqa: F401 - re-exported


def prompt_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Haiku about a topic",
        "description": "Writes a haiku.",
        "template": "Write a haiku about {{topic}} in the style of {{poet}}.",
        "model": "demo",
        "price_cents": 25,
        "private_mode": False,
        "tags": ["poetry", "haiku"],
        "sample_inputs": {"topic": "autumn"},
    }
    body.update(overrides)
    return body


async def create_prompt(client, account, **overrides: Any) -> dict[str, Any]:
    r = await client.post("/prompts", json=prompt_body(**overrides), headers=account.headers)
    assert r.status_code == 201, r.text
    return r.json()
