"""Paged lists: the `limit`/`cursor` query parameters and opaque keyset cursors.

Every paged list of the REST API takes `limit: Limit = DEFAULT_LIMIT` and `cursor: Cursor = None`
(docs/api.md, "Lists"). A cursor is base64url of JSON `[sort, key, id]`: a page asks for rows
strictly after `(key, id)` in `(key DESC, id DESC)` order, so rows inserted meanwhile never
shift or repeat the rest of a walk (for time-ordered sorts).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar.params import Parameter

from hub.platform.errors import bad_request

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Cursors are well under 200 characters (numeric or time keys); anything longer is not one.
MAX_CURSOR_LENGTH = 512

Limit = Annotated[
    int,
    Parameter(
        ge=1,
        le=MAX_LIMIT,
        description=f"Page size (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}).",
    ),
]
Cursor = Annotated[
    str | None,
    Parameter(
        max_length=MAX_CURSOR_LENGTH,
        description="`next_cursor` of the previous page, unchanged.",
    ),
]


def encode_cursor(sort: str, key: Any, row_id: Any) -> str:
    if isinstance(key, datetime):
        key = key.isoformat()
    raw = json.dumps([sort, key, str(row_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str, sort: str, key_kind: type, id_kind: type = uuid.UUID
) -> tuple[Any, Any]:
    """Return (key, id) of a cursor made for `sort`; 400 naming `cursor` when it is not one."""
    invalid = bad_request(
        "cursor is not valid for this list; pass the next_cursor of the previous page unchanged.",
        "cursor",
    )
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        made_for, key, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if made_for != sort or not isinstance(row_id, str):
            raise invalid
        parsed_id: Any = uuid.UUID(row_id) if id_kind is uuid.UUID else int(row_id)
        if isinstance(parsed_id, int) and not 0 <= parsed_id < 2**63:
            raise invalid
        if key_kind is datetime:
            key = datetime.fromisoformat(key)
            if key.tzinfo is None:
                raise invalid
        elif key_kind is float:
            if isinstance(key, bool) or not isinstance(key, int | float):
                raise invalid
            key = float(key)
        elif key_kind is int:
            if isinstance(key, bool) or not isinstance(key, int) or not -(2**31) <= key < 2**31:
                raise invalid
        return key, parsed_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid from exc


def page(
    rows: list[dict[str, Any]], limit: int, sort: str, key_of: Any
) -> tuple[list[dict[str, Any]], str | None]:
    """Split `limit + 1` fetched rows into the page and the next cursor (None on the last page)."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(sort, key_of(last), last["id"])
