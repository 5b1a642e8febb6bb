"""Assertions on RFC 9457 problem details, shared by every test package."""

from __future__ import annotations

PROBLEM = "application/problem+json"


def assert_problem(r, status: int, field: str | None = None) -> dict:
    """The response is a problem+json with this status, a title and a detail (naming `field`)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    assert body["status"] == status and body["title"] and body.get("detail")
    if field is not None:
        assert field in r.text, f"error does not name the field {field!r}: {r.text}"
    return body
