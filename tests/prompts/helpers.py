"""Helpers shared by the marketplace tests."""

from __future__ import annotations

from typing import Any

PROBLEM = "application/problem+json"


def assert_problem(r, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    assert body["status"] == status and body["title"] and body.get("detail")
    if field is not None:
        assert field in r.text, f"error does not name the field {field!r}: {r.text}"
    return body


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
