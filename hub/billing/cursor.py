"""Opaque pagination cursors: `{"items": [...], "next_cursor": "..." | null}`."""

from __future__ import annotations

import base64
import json
from typing import Any

from hub.errors import bad_request


def encode(*parts: Any) -> str:
    raw = json.dumps([str(p) for p in parts], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, n: int) -> list[str] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(parts, list) or len(parts) != n:
            raise ValueError
        return [str(p) for p in parts]
    except ValueError as exc:
        raise bad_request(
            "cursor is not valid: pass next_cursor from the previous page unchanged.", "cursor"
        ) from exc
