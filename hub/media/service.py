"""Attaching images to samples: owner checks, limits, processing, storage, rows.

Order of work for an upload: check who may (owner of an active or own archived prompt, the
sample belongs to it), decode and re-encode in a worker thread (bounded, so a burst of uploads
cannot take every core), write both objects, then insert the row under the sample's lock
(which also enforces the per-sample count). If the row is refused, the objects are deleted
again; if the process dies in between, the objects are unreferenced but harmless (random keys
nobody knows).

Private Mode is not involved: an image is a sample *output*, shown to everyone who may see
the samples, and never part of the template.
"""

from __future__ import annotations

import asyncio
import uuid

import structlog

from hub.media import images
from hub.media.queries import MEDIA_COLUMNS, media_out
from hub.media.schemas import MediaOut
from hub.media.storage import get_store
from hub.platform.db import fetchrow, transaction
from hub.platform.errors import Problem, forbidden, not_found, validation_error
from hub.platform.settings import get_settings
from hub.prompts.service import visible_prompt_row

log = structlog.get_logger(__name__)

MAX_MEDIA_PER_SAMPLE = 4
_processing = asyncio.Semaphore(2)


def too_large(size: int, limit: int) -> Problem:
    return Problem(
        413,
        "payload-too-large",
        "Image too large",
        f"This file is {size:,} bytes; images may be at most {limit:,} bytes.",
        invalid_params=[{"name": "image", "reason": f"at most {limit:,} bytes"}],
    )


async def _owned_sample(prompt_id: uuid.UUID, sample_id: uuid.UUID, user_id: str) -> None:
    """404 unless the caller can see the prompt and the sample is one of its; 403 unless
    the caller owns the prompt (the prompts domain's visibility rules)."""
    row = await visible_prompt_row(prompt_id, user_id)
    if str(row["owner_id"]) != user_id:
        raise forbidden("Only the prompt's creator can add or remove images of its samples.")
    sample = await fetchrow(
        "SELECT id FROM prompt_samples WHERE id = $1 AND prompt_id = $2", sample_id, prompt_id
    )
    if sample is None:
        raise not_found("This sample")


async def add_media(
    prompt_id: uuid.UUID, sample_id: uuid.UUID, user_id: str, data: bytes, alt: str
) -> MediaOut:
    settings = get_settings()
    if len(data) > settings.media_max_bytes:
        raise too_large(len(data), settings.media_max_bytes)
    if len(alt) > 300 or "\x00" in alt:
        raise validation_error("alt", "Describe the image in at most 300 characters.")
    await _owned_sample(prompt_id, sample_id, user_id)
    try:
        async with _processing:
            processed = await asyncio.to_thread(
                images.process,
                data,
                max_pixels=settings.media_max_pixels,
                max_side=settings.media_max_side,
                thumbnail_px=settings.media_thumbnail_px,
            )
    except images.ImageRejected as exc:
        raise validation_error("image", str(exc)) from None
    base = f"{prompt_id}/{uuid.uuid4()}"
    key = f"{base}.{images.EXTENSIONS[processed.image.content_type]}"
    thumbnail_key = f"{base}.thumb.webp"
    store = get_store(settings)
    await store.put(key, processed.image.data, processed.image.content_type)
    await store.put(thumbnail_key, processed.thumbnail.data, processed.thumbnail.content_type)
    try:
        async with transaction():
            locked = await fetchrow(
                "SELECT id FROM prompt_samples WHERE id = $1 AND prompt_id = $2 FOR UPDATE",
                sample_id,
                prompt_id,
            )
            if locked is None:
                raise not_found("This sample")
            count = await fetchrow(
                "SELECT count(*) AS n FROM sample_media WHERE sample_id = $1", sample_id
            )
            if count and count["n"] >= MAX_MEDIA_PER_SAMPLE:
                raise Problem(
                    409,
                    "too-many-images",
                    "Conflict",
                    f"A sample has at most {MAX_MEDIA_PER_SAMPLE} images; delete one first.",
                )
            row = await fetchrow(
                "INSERT INTO sample_media (sample_id, prompt_id, key, thumbnail_key, "
                "content_type, width, height, bytes, thumbnail_width, thumbnail_height, alt) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
                f"RETURNING {MEDIA_COLUMNS}",
                sample_id,
                prompt_id,
                key,
                thumbnail_key,
                processed.image.content_type,
                processed.image.width,
                processed.image.height,
                len(processed.image.data),
                processed.thumbnail.width,
                processed.thumbnail.height,
                alt.strip(),
            )
    except BaseException:
        await discard([key, thumbnail_key])
        raise
    assert row is not None
    log.info(
        "media.added",
        prompt_id=str(prompt_id),
        sample_id=str(sample_id),
        media_id=str(row["id"]),
        content_type=row["content_type"],
        bytes=row["bytes"],
    )
    return media_out(row)


async def delete_media(
    prompt_id: uuid.UUID, sample_id: uuid.UUID, media_id: uuid.UUID, user_id: str
) -> None:
    await _owned_sample(prompt_id, sample_id, user_id)
    row = await fetchrow(
        "DELETE FROM sample_media WHERE id = $1 AND sample_id = $2 RETURNING key, thumbnail_key",
        media_id,
        sample_id,
    )
    if row is None:
        raise not_found("This image")
    await discard([row["key"], row["thumbnail_key"]])


async def discard(keys: list[str]) -> None:
    """Delete objects whose rows are gone. A failure leaves an unreferenced object (logged),
    never a row pointing at nothing."""
    store = get_store()
    for key in keys:
        try:
            await store.delete(key)
        except Exception:  # noqa: BLE001 - storage hiccup: the object is orphaned, not lost data
            log.warning("media.delete_failed", key=key, exc_info=True)
