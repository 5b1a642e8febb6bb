"""The process-wide async Redis client (one pool per process, shared by app and worker in tests)."""

from __future__ import annotations

from redis.asyncio import Redis

_client: Redis | None = None
_users = 0


def connect(url: str) -> Redis:
    global _client, _users
    _users += 1
    if _client is None:
        _client = Redis.from_url(url, decode_responses=False, health_check_interval=30)
    return _client


def get_redis() -> Redis:
    if _client is None:
        raise RuntimeError("Redis is not connected yet (hub.redis.connect was not called)")
    return _client


async def close() -> None:
    global _client, _users
    _users = max(0, _users - 1)
    if _users == 0 and _client is not None:
        await _client.aclose()
        _client = None
