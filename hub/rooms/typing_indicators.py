"""Typing indicators: ephemeral, rate-limited, expiring.

A client publishes `{"typing": true}` (or `false` when it stops) to `typing:<slug>`, the
room's typing channel: a namespace with no history, so nothing is stored and nothing is
replayed on recovery; subscribers of the moment get `{"type": "typing", "room", "user",
"typing", "expires_in"}` and show the indicator for `expires_in` seconds unless it is
repeated (the hub never sends "stopped" for a client that went away: the indicator lapses).
Only someone who may post in the room may type in it. A user may start typing at most once
per `HUB_TYPING_MIN_INTERVAL_SECONDS` per room (a Redis key with that expiry); sooner is
error 111, which a client avoids by repeating `typing: true` every few seconds at most.
"""

from __future__ import annotations

from typing import Any

from hub.platform.auth import CurrentUser
from hub.platform.redis import get_redis
from hub.platform.settings import get_settings
from hub.rooms import service as rooms
from realtime import PublishRejected
from realtime.errors import (
    ERROR_BAD_REQUEST,
    ERROR_PERMISSION_DENIED,
    ERROR_TOO_MANY_REQUESTS,
    ERROR_UNKNOWN_CHANNEL,
)


async def on_publish(
    user: CurrentUser | None, info: dict[str, Any] | None, slug: str, data: Any
) -> dict[str, Any]:
    """Validate a typing publication and return what subscribers get."""
    if (
        not isinstance(data, dict)
        or set(data) - {"typing"}
        or not isinstance(data.get("typing", True), bool)
    ):
        raise PublishRejected.of(
            ERROR_BAD_REQUEST, 'publish {"typing": true} (or false when you stop)'
        )
    room = await rooms.find_room(slug)
    if room is None:
        raise PublishRejected.of(ERROR_UNKNOWN_CHANNEL, "unknown room")
    try:
        await rooms.check_can_post(room, user)
    except rooms.PostRefused as exc:
        raise PublishRejected.of(ERROR_PERMISSION_DENIED, exc.message) from exc
    assert user is not None
    typing = bool(data.get("typing", True))
    settings = get_settings()
    if typing:
        fresh = await get_redis().set(
            f"hub:typing:{room['id']}:{user.id}",
            1,
            px=max(1, int(settings.typing_min_interval_seconds * 1000)),
            nx=True,
        )
        if not fresh:
            raise PublishRejected.of(
                ERROR_TOO_MANY_REQUESTS,
                f"typing at most every {settings.typing_min_interval_seconds:g} s",
            )
    return {
        "type": "typing",
        "room": room["slug"],
        "user": {
            "id": user.id,
            "handle": (info or {}).get("handle"),
            "display_name": (info or {}).get("display_name"),
        },
        "typing": typing,
        "expires_in": settings.typing_ttl_seconds if typing else 0,
    }
