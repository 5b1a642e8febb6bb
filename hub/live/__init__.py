"""How the hub's domains publish realtime events: `await live.publish(channel, data)`.

The app process and arq workers each install a publisher at start-up (the realtime engine in
the app, the engine's standalone Redis publisher in workers). Domains call these functions and
never import `realtime/` directly, so a domain works (and is testable) in either process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from realtime.errors import DISCONNECT_FORCE_RECONNECT, Unsubscribe

log = structlog.get_logger(__name__)

PublishFn = Callable[..., Awaitable[Any]]  # (channel, data, idempotency_key=None)
PublishManyFn = Callable[[list[Any]], Awaitable[list[Any]]]
DisconnectFn = Callable[[str, int, str], Awaitable[None]]

_publish: PublishFn | None = None
_publish_many: PublishManyFn | None = None
_disconnect: DisconnectFn | None = None
_publish_stream: PublishManyFn | None = None


def install(
    publish: PublishFn | None,
    disconnect: DisconnectFn | None = None,
    publish_many: PublishManyFn | None = None,
) -> None:
    global _publish, _disconnect, _publish_many
    _publish, _disconnect, _publish_many = publish, disconnect, publish_many


def is_installed() -> bool:
    return _publish is not None


async def publish(channel: str, data: dict[str, Any], idempotency_key: str | None = None) -> Any:
    """Publish `data` (it must carry a `type`) to `channel`; returns the engine's result.

    With `idempotency_key`, the event is published at most once per key and channel (a repeat
    returns the first publication's position): use it for events that must appear exactly once,
    such as a run's terminal event, when a retry may send them again.

    Publishing is best-effort from the caller's point of view only in that a failure is logged
    and re-raised: callers that must not fail after committing catch it themselves.
    """
    if _publish is None:
        log.warning("live.publish_without_engine", channel=channel, type=data.get("type"))
        return None
    if idempotency_key is None:
        return await _publish(channel, data)
    return await _publish(channel, data, idempotency_key=idempotency_key)


async def publish_many(items: list[Any]) -> list[Any]:
    """Publish several events in one Redis round trip where the engine supports it: items are
    `(channel, data)` or `(channel, data, idempotency_key)`."""
    if _publish is None:
        log.warning("live.publish_without_engine", count=len(items))
        return [None] * len(items)
    if _publish_many is not None:
        return list(await _publish_many(items))
    return [await publish(*item) for item in items]


def install_stream(publish_many: PublishManyFn | None) -> None:
    """The publisher of ordered streams (a run's deltas): see `publish_stream`."""
    global _publish_stream
    _publish_stream = publish_many


async def publish_stream(items: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Publish the next publications of ordered streams (a run's `run.delta`s) and wait for
    Redis to answer, however long a pause lasts (the caller bounds the wait).

    Workers install a publisher on a Redis connection without a read timeout: a timed-out
    publish may still be applied when a paused Redis resumes, so retrying one would publish
    a delta twice. Waiting for the answer keeps each delta exactly once and in order; an
    error here means "not published" (or Redis lost its memory), so the caller retries.
    Falls back to `publish_many` where no stream publisher is installed.
    """
    if _publish_stream is not None:
        return list(await _publish_stream(items))
    return await publish_many(items)


async def disconnect_user(user_id: str) -> None:
    """Close the user's websockets on every hub process with "force reconnect" (3011).

    Sessions whose token is still valid reconnect at once (and recover what they missed);
    a revoked token is refused with 3500 on reconnect, which stops that SDK. So signing out
    one device (or a ban, which revokes every token) ends exactly the sessions it should.
    """
    if _disconnect is not None:
        force = DISCONNECT_FORCE_RECONNECT
        await _disconnect(user_id, force.code, force.reason)


# --- the realtime server API beyond publishing (installed by the app and by workers) ---------

_server: Any = None


def install_server(api: Any) -> None:
    """`api`: the Engine (app) or the Publisher (workers); None uninstalls."""
    global _server
    _server = api


def server() -> Any:
    """The installed server API (the Engine in the app), or None."""
    return _server


async def unsubscribe(user_id: str, channel: str, code_reason: Unsubscribe) -> None:
    """End the user's live subscriptions to `channel` on every hub process, now.

    `code_reason` is one of the codes named in hub.live.channels (2100-2499: the SDK stays
    unsubscribed). Used when a permission is withdrawn: removal from a private room, a ban.
    """
    if _server is None:
        log.warning("live.unsubscribe_without_engine", channel=channel)
        return
    code, reason = code_reason
    await _server.unsubscribe(user_id, channel, code, reason)


async def history_remove(channel: str, where: Callable[[Any], bool] | None = None) -> int:
    """Remove publications from a channel's Redis history (all, or those `where(data)`
    accepts), so deleted content is not replayed by history or recovery."""
    if _server is None:
        log.warning("live.history_remove_without_engine", channel=channel)
        return 0
    return int(await _server.history_remove(channel, where))
