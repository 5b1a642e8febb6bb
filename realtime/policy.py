"""What the hub plugs into the engine: who a client is, and what it may do on which channel.

`realtime` knows nothing of users, runs or rooms. The hub hands in an `Authenticator` (turns a
connection token into `Credentials`) and a `ChannelPolicy` (namespace options and permission
checks). `SimplePolicy` builds a policy from a dict of namespaces plus optional callbacks.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from realtime.config import NamespaceOptions
from realtime.errors import ERROR_BAD_REQUEST, ERROR_METHOD_NOT_FOUND, PublishRejected


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who is on the connection. `user_id=None` is an anonymous (read-only) connection.

    `info` is public: it goes out as `conn_info` in presence, join/leave and the `info` of the
    client's publications, so it must hold only what every reader of a channel may see (the
    hub puts the handle and display name there). `private` is for the hub's policy alone
    (e.g. roles) and is never sent to any client.
    """

    user_id: str | None = None
    expires_at: int | None = None
    info: dict[str, Any] | None = None
    private: Any = None

    @property
    def anonymous(self) -> bool:
        return self.user_id is None


ANONYMOUS = Credentials()


@runtime_checkable
class Authenticator(Protocol):
    """Turns the token of connect/refresh into Credentials.

    `token` is None or "" when the client sent none: return `ANONYMOUS` to allow anonymous
    connections, or raise InvalidToken. Raise TokenExpired for an expired token (the SDK then
    fetches a new one), InvalidToken for anything else that is wrong (the SDK stops).
    """

    async def authenticate(self, token: str | None) -> Credentials: ...


@runtime_checkable
class ChannelPolicy(Protocol):
    """Namespaces and permissions, supplied by the hub.

    The engine already enforces, before asking the policy: a known namespace (102), user-limited
    channels `ns#<user_id>` only for that user (103), anonymous access only where the namespace
    allows it (103), and client publishing only where `allow_publish` is set (103).
    """

    def namespace_options(self, channel: str) -> NamespaceOptions | None: ...

    async def can_subscribe(self, creds: Credentials, channel: str) -> bool: ...

    async def can_publish(self, creds: Credentials, channel: str) -> bool: ...

    async def on_publish(self, creds: Credentials, channel: str, data: Any) -> dict[str, Any]:
        """Validate/persist/transform a client publication before fan-out; raise
        PublishRejected to answer an error instead."""
        ...

    async def rpc(self, creds: Credentials, method: str, data: Any) -> Any:
        """Answer an RPC; raise PublishRejected.of(ERROR_METHOD_NOT_FOUND) for unknown ones."""
        ...

    # Optional: `async server_subscriptions(creds) -> list[str]`, the channels a connection is
    # subscribed to by the server on connect (server-side subscriptions, with recovery from
    # the positions the SDK sends in `connect.subs`). Each must pass the usual read checks.


def namespace_of(channel: str) -> str:
    """The namespace of a channel: the text before the first ':' or '#', else ''.

    `runs:42` -> `runs`, `live:runs` -> `live`, `notifications#7` -> `notifications`.
    """
    for i, ch in enumerate(channel):
        if ch == ":" or ch == "#":
            return channel[:i]
    return ""


def user_limit_of(channel: str) -> str | None:
    """For a user-limited channel `ns#<user_id>` the user id allowed to read it, else None."""
    _, sep, user = channel.rpartition("#")
    return user if sep else None


MaybeAwaitable = Any
SubscribeCheck = Callable[[Credentials, str], "bool | Awaitable[bool]"]
PublishHook = Callable[[Credentials, str, Any], "dict[str, Any] | Awaitable[dict[str, Any]]"]
RpcHandler = Callable[[Credentials, Any], Any]


async def _resolve(value: MaybeAwaitable) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


class SimplePolicy:
    """A ChannelPolicy from a mapping `namespace -> NamespaceOptions` plus optional callbacks.

    Callbacks may be plain functions or coroutines. Defaults: anyone the namespace admits may
    subscribe; authenticated users may publish where `allow_publish` is set; `on_publish`
    accepts a JSON object unchanged; RPC methods come from `rpc_methods`.
    """

    def __init__(
        self,
        namespaces: Mapping[str, NamespaceOptions],
        *,
        can_subscribe: SubscribeCheck | None = None,
        can_publish: SubscribeCheck | None = None,
        on_publish: PublishHook | None = None,
        rpc_methods: Mapping[str, RpcHandler] | None = None,
        server_subscriptions: Callable[[Credentials], Any] | None = None,
    ) -> None:
        self.namespaces = dict(namespaces)
        self._server_subs = server_subscriptions
        self._can_subscribe = can_subscribe
        self._can_publish = can_publish
        self._on_publish = on_publish
        self._rpc = dict(rpc_methods or {})

    def namespace_options(self, channel: str) -> NamespaceOptions | None:
        return self.namespaces.get(namespace_of(channel))

    async def can_subscribe(self, creds: Credentials, channel: str) -> bool:
        if self._can_subscribe is None:
            return True
        return bool(await _resolve(self._can_subscribe(creds, channel)))

    async def can_publish(self, creds: Credentials, channel: str) -> bool:
        if self._can_publish is None:
            return not creds.anonymous
        return bool(await _resolve(self._can_publish(creds, channel)))

    async def on_publish(self, creds: Credentials, channel: str, data: Any) -> dict[str, Any]:
        if self._on_publish is None:
            if not isinstance(data, dict):
                raise PublishRejected.of(
                    ERROR_BAD_REQUEST, "publication data must be a JSON object"
                )
            return data
        return await _resolve(self._on_publish(creds, channel, data))

    async def server_subscriptions(self, creds: Credentials) -> list[str]:
        if self._server_subs is None:
            return []
        return list(await _resolve(self._server_subs(creds)) or ())

    async def rpc(self, creds: Credentials, method: str, data: Any) -> Any:
        handler = self._rpc.get(method)
        if handler is None:
            raise PublishRejected.of(ERROR_METHOD_NOT_FOUND)
        return await _resolve(handler(creds, data))
