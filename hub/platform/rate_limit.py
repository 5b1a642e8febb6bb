"""The REST rate limiter's store: Redis, failing open.

The per-client request limit protects the hub from floods; it is not a security boundary
(login throttling and token revocation are, and they fail closed). So while Redis is
unreachable the limiter lets requests through rather than turning every read, including
anonymous reads that need only Postgres, into an error. Calls use the shared client, whose
timeouts and fail-fast cool-off keep an outage from slowing requests down.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from litestar.stores.base import Store
from litestar.stores.redis import RedisStore

from hub.platform import outages
from hub.platform.redis import get_redis

log = structlog.get_logger(__name__)


class FailOpenRedisStore(Store):
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._store: RedisStore | None = None
        self._client: object | None = None

    def _redis_store(self) -> RedisStore:
        client = get_redis()
        if self._store is None or self._client is not client:
            self._store = RedisStore(client, namespace=self.namespace)
            self._client = client
        return self._store

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        try:
            await self._redis_store().set(key, value, expires_in)
        except outages.REDIS_ERRORS:
            pass

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        try:
            return await self._redis_store().get(key, renew_for)
        except outages.REDIS_ERRORS:
            return None

    async def delete(self, key: str) -> None:
        try:
            await self._redis_store().delete(key)
        except outages.REDIS_ERRORS:
            pass

    async def delete_all(self) -> None:
        await self._redis_store().delete_all()

    async def exists(self, key: str) -> bool:
        try:
            return await self._redis_store().exists(key)
        except outages.REDIS_ERRORS:
            return False

    async def expires_in(self, key: str) -> int | None:
        try:
            return await self._redis_store().expires_in(key)
        except outages.REDIS_ERRORS:
            return None
