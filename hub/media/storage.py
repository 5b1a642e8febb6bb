"""Where media bytes live: S3-compatible object storage, or the local disk in development.

Keys are random and never reused (`<prompt>/<uuid>.<ext>`), so an object never changes once
written: browsers and CDNs may cache it for a year (`immutable`). The API hands out stable
URLs on the hub (`/media/<key>`); the hub serves local files itself and, with S3, redirects to
a pre-signed URL (or to `HUB_S3_PUBLIC_URL` when the bucket is public behind a CDN), so the
bucket can stay private and pages never embed URLs that expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any, Protocol

import structlog

from hub.platform.settings import Settings, get_settings

log = structlog.get_logger(__name__)

CACHE_CONTROL = "public, max-age=31536000, immutable"


class MediaStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def location(self, key: str) -> str | Path | None:
        """A URL to redirect to (S3) or a file path to serve (disk); None if absent."""
        ...

    async def close(self) -> None: ...


def safe_key(key: str) -> bool:
    """Keys are `<uuid>/<uuid>[.thumb].<ext>`: no dots walking up, no absolute paths."""
    parts = key.split("/")
    return (
        len(parts) == 2
        and all(p and not p.startswith(".") for p in parts)
        and all(c.isalnum() or c in "-._" for c in key.replace("/", ""))
    )


class DiskStore:
    """Files under HUB_MEDIA_DIR (`.devdata/media` for `make run`)."""

    def __init__(self, root: str) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        if not safe_key(key):
            raise ValueError("bad media key")
        return self.root / key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".part")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # readers never see half a file

        await asyncio.to_thread(write)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(lambda: path.unlink(missing_ok=True))

    async def location(self, key: str) -> Path | None:
        path = self._path(key)
        return path if await asyncio.to_thread(path.is_file) else None

    async def close(self) -> None:
        return None


class S3Store:
    """An S3 bucket through aioboto3; one client per process, opened on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def _s3(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    import aioboto3
                    from botocore.config import Config

                    s = self.settings
                    stack = contextlib.AsyncExitStack()
                    self._client = await stack.enter_async_context(
                        aioboto3.Session().client(
                            "s3",
                            endpoint_url=s.s3_endpoint_url or None,
                            region_name=s.s3_region,
                            aws_access_key_id=s.s3_access_key_id or None,
                            aws_secret_access_key=s.s3_secret_access_key or None,
                            config=Config(
                                connect_timeout=5,
                                read_timeout=30,
                                retries={"max_attempts": 3, "mode": "standard"},
                                s3={"addressing_style": "path"},
                            ),
                        )
                    )
                    self._stack = stack
        return self._client

    def _key(self, key: str) -> str:
        return self.settings.s3_prefix + key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        s3 = await self._s3()
        await s3.put_object(
            Bucket=self.settings.s3_bucket,
            Key=self._key(key),
            Body=data,
            ContentType=content_type,
            CacheControl=CACHE_CONTROL,
        )

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        await s3.delete_object(Bucket=self.settings.s3_bucket, Key=self._key(key))

    async def location(self, key: str) -> str:
        if self.settings.s3_public_url:
            return self.settings.s3_public_url.rstrip("/") + "/" + self._key(key)
        s3 = await self._s3()
        url: str = await s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.settings.s3_bucket, "Key": self._key(key)},
            ExpiresIn=self.settings.s3_presign_seconds,
        )
        return url

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = self._client = None


_stores: dict[tuple[Any, ...], MediaStore] = {}


def _identity(settings: Settings) -> tuple[Any, ...]:
    if settings.s3_bucket:
        return (
            "s3",
            settings.s3_bucket,
            settings.s3_endpoint_url,
            settings.s3_region,
            settings.s3_access_key_id,
            settings.s3_prefix,
            settings.s3_public_url,
        )
    return ("disk", settings.media_dir)


def get_store(settings: Settings | None = None) -> MediaStore:
    """The store the settings name (S3 when HUB_S3_BUCKET is set), created once."""
    settings = settings or get_settings()
    ident = _identity(settings)
    store = _stores.get(ident)
    if store is None:
        store = S3Store(settings) if settings.s3_bucket else DiskStore(settings.media_dir)
        _stores[ident] = store
    return store


async def close_stores() -> None:
    for store in list(_stores.values()):
        try:
            await store.close()
        except Exception:  # noqa: BLE001 - shutting down
            log.warning("media.store_close_failed", exc_info=True)
    _stores.clear()
