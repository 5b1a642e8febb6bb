"""The process-wide async Redis client (one pool per process, shared by app and worker in tests).

Every connection of the pool has socket timeouts (`HUB_REDIS_TIMEOUT_SECONDS`), so a paused
or unreachable Redis cannot hang a request or a worker, and reports to `hub.platform.outages.redis`:
after a failure, calls fail at once for a short cool-off instead of each waiting for its
own timeout (then one call tries again). redis-py retries nothing (`retry` is off), so a
command that timed out is never silently sent twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hub.platform import outages

_client: Redis | None = None
_users = 0


_hiredis_pack: Callable[[tuple[Any, ...]], bytes] | None
try:
    import hiredis

    _hiredis_pack = hiredis.pack_command
except ImportError:  # pragma: no cover - hiredis is a dependency; redis-py packs without it
    _hiredis_pack = None


class _Guarded(AbstractConnection):
    """Fail fast while Redis is known to be down; record each failure and each answer.

    Commands are packed by hiredis (C) when it is installed, as redis-py's synchronous client
    does: its asyncio client packs in Python, one `encode` and one growing bytes join per
    argument, which made packing a batch of run deltas (one script call, ~11 arguments per
    delta) cost more than the rest of publishing it."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if _hiredis_pack is None:
            return super().pack_command(*args)
        first = args[0]
        if isinstance(first, str):
            args = (*first.encode().split(), *args[1:])
        elif b" " in first:
            args = (*first.split(), *args[1:])
        try:
            return [_hiredis_pack(args)]
        except TypeError as exc:
            raise DataError(str(exc)) from exc

    async def connect(self) -> None:
        if not self.is_connected:
            outages.redis.fail_fast()
        try:
            await super().connect()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            outages.redis.failed(exc)
            raise

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        outages.redis.fail_fast()
        try:
            await super().send_packed_command(command, check_health)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if not isinstance(exc, outages.Unavailable):
                outages.redis.failed(exc)
            raise

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            response = await super().read_response(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            outages.redis.failed(exc)
            raise
        if outages.redis.is_down:
            outages.redis.answered()
        return response


class GuardedConnection(_Guarded, Connection):
    pass


class GuardedSSLConnection(_Guarded, SSLConnection):
    pass


class GuardedUnixConnection(_Guarded, UnixDomainSocketConnection):
    pass


def client_for(url: str, *, timeout: float | None, **kwargs: Any) -> Redis:
    """A Redis client on `url` whose connections time out after `timeout` seconds and report
    to `hub.platform.outages.redis` (None: no read timeout, for connections that wait on purpose)."""
    pool = ConnectionPool.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout or 2.0,
        socket_keepalive=True,
        retry_on_timeout=False,
        health_check_interval=30,
        **kwargs,
    )
    base = pool.connection_class
    pool.connection_class = (
        GuardedUnixConnection
        if issubclass(base, UnixDomainSocketConnection)
        else GuardedSSLConnection
        if issubclass(base, SSLConnection)
        else GuardedConnection
    )
    return Redis.from_pool(pool)


def with_timeouts(url: str, timeout: float) -> str:
    """`url` with redis-py's socket timeouts in its query (for clients built from a URL)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("socket_timeout", str(timeout))
    query.setdefault("socket_connect_timeout", str(min(timeout, 2.0)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def realtime_client(settings: Any, *, timeout: float | None) -> Any:
    """A client of the realtime engine's Redis (REDIS_URL) for publishers without an engine
    (workers): the guarded plain client, or with HUB_REDIS_CLUSTER the engine's cluster
    client (realtime.cluster.ShardedRedis: each command on its slot's master, at most once)."""
    if not settings.redis_cluster:
        return client_for(settings.redis_url, timeout=timeout)
    from realtime.broker import connect_redis

    url = with_timeouts(settings.redis_url, timeout) if timeout else settings.redis_url
    return connect_redis(url, cluster=True, socket_keepalive=True)


def connect(url: str) -> Redis:
    global _client, _users
    from hub.platform.settings import get_settings

    _users += 1
    if _client is None:
        _client = client_for(url, timeout=get_settings().redis_timeout_seconds)
    return _client


def get_redis() -> Redis:
    if _client is None:
        raise RuntimeError("Redis is not connected yet (hub.platform.redis.connect was not called)")
    return _client


async def close() -> None:
    global _client, _users
    _users = max(0, _users - 1)
    if _users == 0 and _client is not None:
        await _client.aclose()
        _client = None
