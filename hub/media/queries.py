"""Reading sample media for the prompts domain (no imports from it, so both can use this)."""

from __future__ import annotations

import uuid
from typing import Any

from hub.media.schemas import MediaOut
from hub.platform.db import fetch

MEDIA_COLUMNS = (
    "id, sample_id, key, thumbnail_key, content_type, width, height, bytes, "
    "thumbnail_width, thumbnail_height, alt, created_at"
)


def media_url(key: str) -> str:
    return f"/media/{key}"


def media_out(row: dict[str, Any]) -> MediaOut:
    return MediaOut(
        id=str(row["id"]),
        sample_id=str(row["sample_id"]),
        url=media_url(row["key"]),
        thumbnail_url=media_url(row["thumbnail_key"]),
        content_type=row["content_type"],
        width=row["width"],
        height=row["height"],
        bytes=row["bytes"],
        thumbnail_width=row["thumbnail_width"],
        thumbnail_height=row["thumbnail_height"],
        alt=row["alt"],
        created_at=row["created_at"],
    )


async def media_for_samples(sample_ids: list[uuid.UUID]) -> dict[str, list[MediaOut]]:
    """Each sample's images in upload order, in one indexed query."""
    if not sample_ids:
        return {}
    rows = await fetch(
        f"SELECT {MEDIA_COLUMNS} FROM sample_media WHERE sample_id = ANY($1::uuid[]) "
        "ORDER BY sample_id, created_at, id",
        sample_ids,
    )
    out: dict[str, list[MediaOut]] = {}
    for row in rows:
        out.setdefault(str(row["sample_id"]), []).append(media_out(row))
    return out


async def keys_of_sample(sample_id: uuid.UUID) -> list[str]:
    rows = await fetch(
        "SELECT key, thumbnail_key FROM sample_media WHERE sample_id = $1", sample_id
    )
    return [k for r in rows for k in (r["key"], r["thumbnail_key"])]
