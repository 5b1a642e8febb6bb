"""Protocol error codes, disconnect codes and the exceptions the hub raises into the engine.

Numbers and messages follow the public Centrifuge client protocol so that every official SDK
reacts as documented: error replies with `temporary: true` are retried by SDKs; disconnect
codes 3000-3499 make SDKs reconnect, 3500-3999 make them stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """An error reply to one command; the connection stays open."""

    code: int
    message: str
    temporary: bool = False


ERROR_INTERNAL = ProtocolError(100, "internal server error", temporary=True)
ERROR_UNAUTHORIZED = ProtocolError(101, "unauthorized")
ERROR_UNKNOWN_CHANNEL = ProtocolError(102, "unknown channel")
ERROR_PERMISSION_DENIED = ProtocolError(103, "permission denied")
ERROR_METHOD_NOT_FOUND = ProtocolError(104, "method not found")
ERROR_ALREADY_SUBSCRIBED = ProtocolError(105, "already subscribed")
ERROR_LIMIT_EXCEEDED = ProtocolError(106, "limit exceeded")
ERROR_BAD_REQUEST = ProtocolError(107, "bad request")
ERROR_NOT_AVAILABLE = ProtocolError(108, "not available")
ERROR_TOKEN_EXPIRED = ProtocolError(109, "token expired")
ERROR_TOO_MANY_REQUESTS = ProtocolError(111, "too many requests", temporary=True)
ERROR_UNRECOVERABLE_POSITION = ProtocolError(112, "unrecoverable position")


@dataclass(frozen=True, slots=True)
class Disconnect:
    """A close frame sent to the client: `code` decides whether SDKs reconnect."""

    code: int
    reason: str

    @property
    def reconnect(self) -> bool:
        return not (3500 <= self.code < 4000 or 4500 <= self.code < 5000)


DISCONNECT_NORMAL = Disconnect(3000, "connection closed")
DISCONNECT_SHUTDOWN = Disconnect(3001, "shutdown")
DISCONNECT_SERVER_ERROR = Disconnect(3004, "internal server error")
DISCONNECT_EXPIRED = Disconnect(3005, "connection expired")
DISCONNECT_SLOW = Disconnect(3008, "slow")
DISCONNECT_WRITE_ERROR = Disconnect(3009, "write error")
DISCONNECT_INSUFFICIENT_STATE = Disconnect(3010, "insufficient state")
DISCONNECT_FORCE_RECONNECT = Disconnect(3011, "force reconnect")
DISCONNECT_NO_PONG = Disconnect(3012, "no pong")
DISCONNECT_TOO_MANY_REQUESTS = Disconnect(3013, "too many requests")
DISCONNECT_INVALID_TOKEN = Disconnect(3500, "invalid token")
DISCONNECT_BAD_REQUEST = Disconnect(3501, "bad request")
DISCONNECT_STALE = Disconnect(3502, "stale")
DISCONNECT_FORCE_NO_RECONNECT = Disconnect(3503, "force disconnect")
DISCONNECT_CONNECTION_LIMIT = Disconnect(3504, "connection limit")
DISCONNECT_MESSAGE_TOO_BIG = Disconnect(1009, "message too big")


class Unsubscribe(NamedTuple):
    """An `unsubscribe` push ending one subscription: below 2500 the SDK stays unsubscribed
    (2100-2499 are the application's codes), from 2500 it resubscribes (with recovery when
    the subscription is recoverable). A tuple, so `code, reason = ...` works."""

    code: int
    reason: str


UNSUBSCRIBE_SERVER = Unsubscribe(2000, "server unsubscribe")
UNSUBSCRIBE_INSUFFICIENT_STATE = Unsubscribe(2500, "insufficient state")


class RealtimeError(Exception):
    """Base class of the exceptions `realtime` raises or accepts from the hub."""


class InvalidToken(RealtimeError):
    """Raised by an Authenticator for a token that is malformed, forged or revoked (-> 3500)."""


class TokenExpired(RealtimeError):
    """Raised by an Authenticator for a well-formed token past its expiry (-> error 109)."""


class PublishRejected(RealtimeError):
    """Raised by `ChannelPolicy.on_publish`/`rpc` to answer the client with an error reply."""

    def __init__(
        self,
        code: int = ERROR_PERMISSION_DENIED.code,
        message: str = ERROR_PERMISSION_DENIED.message,
        temporary: bool = False,
    ):
        super().__init__(f"{code}: {message}")
        self.error = ProtocolError(code, message, temporary)

    @classmethod
    def of(cls, error: ProtocolError, message: str | None = None) -> PublishRejected:
        """Reject with a catalogued error (its code and `temporary`), optionally with a more
        specific message: `PublishRejected.of(ERROR_BAD_REQUEST, "data must be an object")`."""
        return cls(error.code, message or error.message, error.temporary)


class UnknownChannel(RealtimeError, ValueError):
    """A server-side publish to a channel whose namespace the policy does not know."""


class BadRequest(RealtimeError):
    """Malformed input from a client: answered by closing with 3501."""
