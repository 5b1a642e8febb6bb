"""The hub's channel policy and authenticator for the realtime engine (see realtime.md table).

`realtime/` knows nothing of runs, rooms or users; this module tells it, per namespace, the
history and presence options and who may subscribe or publish.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec
import structlog

from hub.platform import auth
from hub.platform.auth import CurrentUser
from hub.platform.db import fetchrow
from realtime import (
    ANONYMOUS,
    Credentials,
    InvalidToken,
    NamespaceOptions,
    PublishRejected,
    TokenExpired,
    namespace_of,
)
from realtime.errors import (
    ERROR_BAD_REQUEST,
    ERROR_METHOD_NOT_FOUND,
    ERROR_PERMISSION_DENIED,
    ERROR_TOO_MANY_REQUESTS,
    ERROR_UNKNOWN_CHANNEL,
    Unsubscribe,
)

log = structlog.get_logger(__name__)

HOUR, DAY = 3600, 86400

NAMESPACES: dict[str, NamespaceOptions] = {
    # The whole run (a run is capped well below this many deltas), kept 1 h after the last event.
    "runs": NamespaceOptions(history_size=20000, history_ttl_seconds=HOUR),
    # State channels (cache recovery): subscribing returns the latest publication first; the
    # web pages refresh their fragment on any publication, apps reload the list or counts.
    # prompts:<id> republishes the whole prompt (prompt.updated): fossil delta negotiable.
    "prompts": NamespaceOptions(
        history_size=100, history_ttl_seconds=HOUR, recovery_mode="cache", allow_delta=True
    ),
    "live": NamespaceOptions(history_size=100, history_ttl_seconds=600, recovery_mode="cache"),
    "rooms": NamespaceOptions(
        history_size=1000,
        history_ttl_seconds=DAY,
        presence=True,
        join_leave=True,
        allow_publish=True,
    ),
    "notifications": NamespaceOptions(
        history_size=100, history_ttl_seconds=DAY, allow_anonymous=False
    ),
    "sales": NamespaceOptions(
        history_size=1000, history_ttl_seconds=7 * DAY, allow_anonymous=False
    ),
    "feed": NamespaceOptions(history_size=200, history_ttl_seconds=DAY, allow_anonymous=False),
    # A room's typing indicators, `typing:<slug>`: no history, nothing stored
    # (hub/rooms/typing_indicators.py).
    "typing": NamespaceOptions(allow_publish=True),
    # The moderation queue, live for moderators: `moderation:reports`.
    "moderation": NamespaceOptions(
        history_size=100, history_ttl_seconds=DAY, allow_anonymous=False
    ),
}

# User-limited namespaces must be addressed as `<ns>#<user_id>`; the engine checks the user.
USER_LIMITED = frozenset({"notifications", "sales", "feed"})


class Private(msgspec.Struct, frozen=True):
    """What the authenticator learns about a connection's user that clients never see."""

    roles: tuple[str, ...] = ()
    creator: bool = False


def current_user(creds: Credentials) -> CurrentUser | None:
    """The connection's user with the roles the authenticator read from the database."""
    if creds.user_id is None:
        return None
    private = creds.private if isinstance(creds.private, Private) else Private()
    return CurrentUser(id=creds.user_id, roles=private.roles)


class HubAuthenticator:
    """Connection tokens: realtime tokens from POST /realtime/token, or REST access tokens.

    Signature, expiry and revocation come from the token; roles, handle and display name come
    from the database at every connect and refresh, so a demoted moderator loses the role on
    the next refresh (at the latest when the token expires) whatever token they hold, and an
    erased account cannot connect. The handle and display name are the connection's public
    `conn_info`; roles stay private to the policy.
    """

    async def authenticate(self, token: str | None) -> Credentials:
        if not token:
            return ANONYMOUS
        try:
            user = await auth.verify_connection_token(token)
        except auth.TokenRejected as exc:
            if exc.expired:
                raise TokenExpired() from exc
            raise InvalidToken() from exc
        try:
            user_uuid = uuid.UUID(user.id)
        except ValueError as exc:
            raise InvalidToken() from exc
        row = await fetchrow(
            "SELECT u.handle, u.display_name, u.roles, "
            "EXISTS (SELECT 1 FROM prompts p WHERE p.owner_id = u.id) AS creator "
            "FROM users u WHERE u.id = $1 AND u.deleted_at IS NULL",
            user_uuid,
        )
        if row is None:
            raise InvalidToken()
        return Credentials(
            user_id=user.id,
            expires_at=user.expires_at,
            info={"handle": row["handle"], "display_name": row["display_name"]},
            private=Private(roles=tuple(row["roles"] or ()), creator=bool(row["creator"])),
        )


# Channel names are canonical: one spelling per channel, so storage and fan-out never split
# (`rooms:LOBBY` is not another name of `rooms:lobby`: it is refused with 102, never a second
# stream). Ids are lowercase UUIDs as the database prints them; room slugs as rooms store them.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{1,63}")
_NAME_RULES = {
    "runs": _UUID,
    "prompts": _UUID,
    "rooms": _SLUG,
    "typing": _SLUG,
    "notifications": _UUID,
    "sales": _UUID,
    "feed": _UUID,
}

# Server-side unsubscribe codes (2100-2499: the SDK stays unsubscribed and tells the app).
UNSUBSCRIBE_ACCESS_REVOKED = Unsubscribe(2100, "access revoked")  # removed from a private room
UNSUBSCRIBE_BANNED = Unsubscribe(2101, "banned")  # banned from the room


class HubPolicy:
    def namespace_options(self, channel: str) -> NamespaceOptions | None:
        ns = namespace_of(channel)
        opts = NAMESPACES.get(ns)
        if opts is None:
            return None
        sep = channel[len(ns) : len(ns) + 1]
        rest = channel[len(ns) + 1 :]
        if sep != ("#" if ns in USER_LIMITED else ":"):
            return None
        if ns == "live":
            return opts if rest == "runs" else None
        if ns == "moderation":
            return opts if rest == "reports" else None
        rule = _NAME_RULES.get(ns)
        if rule is None or not rule.fullmatch(rest):
            return None
        return opts

    async def can_subscribe(self, creds: Credentials, channel: str) -> bool:
        ns = namespace_of(channel)
        rest = channel[len(ns) + 1 :]
        if ns == "runs":
            return await _can_watch_run(creds.user_id, rest)
        if ns in ("rooms", "typing"):
            from hub.rooms import service as rooms

            room = await rooms.find_room(rest)
            if room is None or not await rooms.can_read(room, current_user(creds)):
                return False
            # A banned user is out of the room's live channel (and its presence) until the ban
            # ends; the messages stay readable over REST like any public page.
            return creds.user_id is None or await rooms.banned_until(room, creds.user_id) is None
        if ns == "moderation":
            user = current_user(creds)
            return user is not None and user.is_moderator
        return True  # prompts:, live:runs are public; user-limited ones are checked by the engine

    async def server_subscriptions(self, creds: Credentials) -> list[str]:
        """Personal channels every signed-in connection gets on connect, recovered from the
        positions the SDK sends (one round trip for a mobile reconnect): notifications and
        feed, plus sales for creators (a user who owns a prompt when connecting)."""
        if creds.user_id is None:
            return []
        uid = creds.user_id
        channels = [f"notifications#{uid}", f"feed#{uid}"]
        if isinstance(creds.private, Private) and creds.private.creator:
            channels.append(f"sales#{uid}")
        return channels

    async def can_publish(self, creds: Credentials, channel: str) -> bool:
        return namespace_of(channel) in ("rooms", "typing") and creds.user_id is not None

    async def on_publish(self, creds: Credentials, channel: str, data: Any) -> dict[str, Any]:
        """A client publish to `rooms:<slug>` is a chat message (the same path as the REST
        post); one to `typing:<slug>` is a typing indicator (hub.rooms.typing_indicators)."""
        from hub.rooms import messages as room_messages
        from hub.rooms import service as rooms

        if channel.startswith("typing:"):
            from hub.rooms import typing_indicators

            return await typing_indicators.on_publish(
                current_user(creds), creds.info, channel.removeprefix("typing:"), data
            )
        if not isinstance(data, dict) or set(data) - {"text", "type"}:
            raise PublishRejected.of(ERROR_BAD_REQUEST, 'publish {"text": "..."} to a room')
        room = await rooms.find_room(channel.removeprefix("rooms:"))
        if room is None:
            raise PublishRejected.of(ERROR_UNKNOWN_CHANNEL, "unknown room")
        try:
            return await room_messages.create_message(room, current_user(creds), data.get("text"))
        except rooms.PostRefused as exc:
            error = {"rate": ERROR_TOO_MANY_REQUESTS, "invalid": ERROR_BAD_REQUEST}.get(
                exc.kind, ERROR_PERMISSION_DENIED
            )
            raise PublishRejected.of(error, exc.message) from exc

    async def rpc(self, creds: Credentials, method: str, data: Any) -> Any:
        raise PublishRejected.of(ERROR_METHOD_NOT_FOUND)


async def _can_watch_run(user_id: str | None, run_id: str) -> bool:
    try:
        uuid.UUID(run_id)
    except ValueError:
        return False
    try:
        from hub.runs.queries import can_watch_run
    except ImportError:
        return False
    return bool(await can_watch_run(user_id, run_id))
