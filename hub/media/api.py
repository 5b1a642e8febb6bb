"""Media routes: upload and delete a sample's images (API), and serve them (`/media/...`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, delete, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import File, Redirect, Response
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from hub.media import service
from hub.media.schemas import MediaOut
from hub.media.storage import CACHE_CONTROL, get_store, safe_key
from hub.platform.auth import CurrentUser
from hub.platform.errors import validation_error
from hub.platform.settings import get_settings

# The framework reads at most this much of a request; the service applies HUB_MEDIA_MAX_BYTES
# (413 with a clear message) below it.
_BODY_CEILING = get_settings().media_max_bytes + 256 * 1024


@dataclass
class MediaUpload:
    """multipart/form-data: `image` (the file) and optional `alt` (a description of it)."""

    image: UploadFile
    alt: str = ""


class SampleMediaController(Controller):
    path = "/prompts/{prompt_id:uuid}/samples/{sample_id:uuid}/media"
    tags = ["prompts"]

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        request_max_body_size=_BODY_CEILING,
        summary="Attach an image to a sample (owner)",
        description="multipart/form-data with `image` (PNG, JPEG or WebP, recognised by its "
        "content) and optional `alt` (up to 300 characters). The image is decoded and "
        "re-encoded (EXIF and other metadata removed, orientation applied) and a WebP "
        "thumbnail made. Limits: `HUB_MEDIA_MAX_BYTES` (413), `HUB_MEDIA_MAX_PIXELS` and "
        "`HUB_MEDIA_MAX_SIDE` (422 naming `image`), 4 images per sample (409).",
    )
    async def upload(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[UUID],
        sample_id: FromPath[UUID],
        data: Annotated[MediaUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> MediaOut:
        if not isinstance(data.image, UploadFile):
            raise validation_error("image", "Send the image as a file part named `image`.")
        content = await data.image.read(get_settings().media_max_bytes + 1)
        return await service.add_media(
            prompt_id, sample_id, request.user.id, content, data.alt or ""
        )

    @delete(
        "/{media_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove an image from a sample (owner)",
    )
    async def remove(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[UUID],
        sample_id: FromPath[UUID],
        media_id: FromPath[UUID],
    ) -> None:
        await service.delete_media(prompt_id, sample_id, media_id, request.user.id)


_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}


@get("/media/{key:path}", include_in_schema=False, exclude_from_auth=True, name="media")
async def serve_media(key: FromPath[str]) -> Response[Any] | File | Redirect:
    """Local files with a year of caching; with S3, a redirect to the object (cached for half
    the pre-signed URL's life, so a cached redirect never points at an expired URL)."""
    key = key.lstrip("/")
    missing = Response(
        {"status": 404, "title": "Not found", "detail": "This image does not exist."},
        status_code=404,
        media_type="application/problem+json",
    )
    if not safe_key(key) or Path(key).suffix not in _TYPES:
        return missing
    location = await get_store().location(key)
    if location is None:
        return missing
    if isinstance(location, Path):
        return File(
            location,
            media_type=_TYPES[location.suffix],
            content_disposition_type="inline",
            headers={"Cache-Control": CACHE_CONTROL},
        )
    settings = get_settings()
    max_age = 86400 if settings.s3_public_url else max(0, settings.s3_presign_seconds // 2)
    return Redirect(
        location, status_code=302, headers={"Cache-Control": f"public, max-age={max_age}"}
    )
