"""Media response bodies."""

from __future__ import annotations

from datetime import datetime

import msgspec


class MediaOut(msgspec.Struct):
    """An image of a sample. `url` and `thumbnail_url` are on the hub (`/media/...`): stable,
    cacheable for a year; with S3 storage they redirect to the object."""

    id: str
    sample_id: str
    url: str
    thumbnail_url: str
    content_type: str
    width: int
    height: int
    bytes: int
    thumbnail_width: int
    thumbnail_height: int
    alt: str
    created_at: datetime
