"""How the hub's domains publish realtime events: `await live.publish(channel, data)`.

The app process and arq workers each install a publisher at start-up (the realtime engine in
the app, the engine's standalone Redis publisher in workers). Domains call these functions and
never import `realtime/` directly, so a domain works (and is testable) in either process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

PublishFn = Callable[[str, dict[str, Any]], Awaitable[Any]]
DisconnectFn = Callable[[str, int, str], Awaitable[None]]

_publish: PublishFn | None = None
_disconnect: DisconnectFn | None = None


def install(publish: PublishFn | None, disconnect: DisconnectFn | None = None) -> None:
    global _publish, _disconnect
    _publish, _disconnect = publish, disconnect


def is_installed() -> bool:
    return _publish is not None


async def publish(channel: str, data: dict[str, Any]) -> Any:
    """Publish `data` (it must carry a `type`) to `channel`; returns the engine's result.

    Publishing is best-effort from the caller's point of view only in that a failure is logged
    and re-raised: callers that must not fail after committing catch it themselves.
    """
    if _publish is None:
        log.warning("live.publish_without_engine", channel=channel, type=data.get("type"))
        return None
    return await _publish(channel, data)


async def disconnect_user(user_id: str) -> None:
    """Close the user's websockets on every hub process with "force reconnect" (3011).

    Sessions whose token is still valid reconnect at once (and recover what they missed);
    a revoked token is refused with 3500 on reconnect, which stops that SDK. So signing out
    one device (or a ban, which revokes every token) ends exactly the sessions it should.
    """
    if _disconnect is not None:
        await _disconnect(user_id, 3011, "force reconnect")
