"""When each user was last seen, for the email digest ("not online for N hours").

A user is seen when they make a signed-in REST request or connect (or refresh) a websocket.
The time goes to Redis (`hub:seen:<user id>`, kept 90 days), written at most once a minute per
user and process, so an active user costs one Redis write a minute, not one per request.
Losing the keys (a Redis flush) makes everyone look away: the worst case is one digest too
many, never a missed notification.
"""

from __future__ import annotations

import time

import structlog

from hub.platform.redis import get_redis

log = structlog.get_logger(__name__)

WRITE_EVERY_SECONDS = 60.0
KEEP_SECONDS = 90 * 86400
_MAX_REMEMBERED = 100_000
_written: dict[str, float] = {}


def _key(user_id: str) -> str:
    return f"hub:seen:{user_id}"


async def touch(user_id: str) -> None:
    """Record that the user is here now (throttled; never fails the request)."""
    now = time.monotonic()
    if now - _written.get(user_id, -WRITE_EVERY_SECONDS) < WRITE_EVERY_SECONDS:
        return
    if len(_written) >= _MAX_REMEMBERED:
        _written.clear()
    _written[user_id] = now
    try:
        await get_redis().set(_key(user_id), f"{time.time():.0f}", ex=KEEP_SECONDS)
    except Exception:  # noqa: BLE001 - a missed mark only risks an early digest
        log.warning("activity.touch_failed", user_id=user_id, exc_info=True)


async def last_seen(user_ids: list[str]) -> dict[str, float]:
    """Unix time each user was last seen; users never seen (or forgotten) are absent."""
    if not user_ids:
        return {}
    values = await get_redis().mget([_key(u) for u in user_ids])
    return {u: float(v) for u, v in zip(user_ids, values, strict=True) if v is not None}
