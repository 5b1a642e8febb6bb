"""A lean Redis pub/sub connection for fan-out.

It parses RESP with hiredis straight from `data_received`, so a publication reaches the node's
fan-out without task switches, and `subscribe()` resolves only when Redis confirms it: the
engine reads history *after* that confirmation, which is what makes recovery gap-free (every
publication is either in the history read or delivered on this connection).

This is the one place that speaks pub/sub: switching to sharded pub/sub (SSUBSCRIBE) on
Redis 7+ means changing the commands here and `publish` in the broker's script.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from urllib.parse import unquote, urlparse

import hiredis

log = logging.getLogger("realtime.pubsub")


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(p), p))
    return b"".join(out)


class PubSubConnection(asyncio.Protocol):
    """One pub/sub socket. `on_message(channel, data)` runs synchronously for each message."""

    def __init__(self, on_message: Callable[[bytes, bytes], None]) -> None:
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader()
        self._pending: dict[bytes, deque[asyncio.Future[None]]] = {}
        self._auth: deque[asyncio.Future[None]] = deque()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        on_message = self.on_message
        while True:
            msg = reader.gets()
            if msg is False:
                return
            if type(msg) is list:
                kind = msg[0]
                if kind == b"message":
                    try:
                        on_message(msg[1], msg[2])
                    except Exception:  # noqa: BLE001 - one bad message must not stop fan-out
                        log.exception("pubsub message handler failed")
                elif kind == b"subscribe":
                    waiters = self._pending.get(msg[1])
                    if waiters:
                        fut = waiters.popleft()
                        if not waiters:
                            del self._pending[msg[1]]
                        if not fut.done():
                            fut.set_result(None)
            elif self._auth:
                fut = self._auth.popleft()
                if not fut.done():
                    if isinstance(msg, hiredis.ReplyError):
                        fut.set_exception(ConnectionError(str(msg)))
                    else:
                        fut.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        err = ConnectionError("redis pubsub connection lost")
        for waiters in self._pending.values():
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(err)
        self._pending.clear()
        for fut in self._auth:
            if not fut.done():
                fut.set_exception(err)
        self._auth.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    # API -----------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    async def authenticate(self, username: str | None, password: str) -> None:
        assert self.transport is not None
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._auth.append(fut)
        parts = [b"AUTH"] + ([username.encode()] if username else []) + [password.encode()]
        self.transport.write(_command(*parts))
        await fut

    def subscribe_nowait(self, channel: bytes) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self.connected:
            fut.set_exception(ConnectionError("redis pubsub not connected"))
            return fut
        self._pending.setdefault(channel, deque()).append(fut)
        assert self.transport is not None
        self.transport.write(_command(b"SUBSCRIBE", channel))
        return fut

    async def subscribe(self, channel: bytes) -> None:
        await self.subscribe_nowait(channel)

    def unsubscribe(self, channel: bytes) -> None:
        if self.connected:
            assert self.transport is not None
            self.transport.write(_command(b"UNSUBSCRIBE", channel))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_pubsub(url: str, on_message: Callable[[bytes, bytes], None]) -> PubSubConnection:
    """Connect to the Redis server named by a redis:// URL (db is irrelevant for pub/sub)."""
    parsed = urlparse(url)
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or 6379
    loop = asyncio.get_running_loop()
    if parsed.scheme == "unix":
        _, proto = await loop.create_unix_connection(
            lambda: PubSubConnection(on_message), parsed.path
        )
    else:
        ssl = parsed.scheme == "rediss" or None
        _, proto = await loop.create_connection(
            lambda: PubSubConnection(on_message), host, port, ssl=ssl
        )
    if parsed.password:
        username = unquote(parsed.username) if parsed.username else None
        await proto.authenticate(username, unquote(parsed.password))
    return proto
