"""A lean Redis pub/sub connection for fan-out.

It parses RESP with hiredis straight from `data_received`, so a publication reaches the hub's
fan-out without task switches, and `subscribe()` resolves only when Redis confirms it: the
engine reads history *after* that confirmation, which is what makes recovery gap-free (every
publication is either in the history read or delivered on this connection).

On a Redis Cluster (`ClusterPubSub`) fan-out uses sharded pub/sub (Redis 7+): a channel's
publications are SPUBLISHed by the broker's script on the shard that owns the channel's slot,
and a process SSUBSCRIBEs there, over one `ShardConnection` per master. Control messages stay
on classic pub/sub, which a cluster broadcasts to every node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, cast
from urllib.parse import unquote, urlparse

import hiredis
from redis.crc import key_slot

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
        self.transport = cast(asyncio.Transport, transport)  # a TCP connection's: a stream

    #: The push that carries a publication (`smessage` on a sharded connection).
    MESSAGE_KIND = b"message"

    def data_received(self, data: bytes) -> None:
        """The hot path: publications go straight to `on_message`; everything else (rare) to
        `_on_push` (subscription confirmations) or `_on_reply` (AUTH answers, errors)."""
        reader = self._reader
        reader.feed(data)
        on_message = self.on_message
        message_kind = self.MESSAGE_KIND
        while True:
            msg = reader.gets()
            if msg is False:
                return
            if type(msg) is list:
                if msg[0] == message_kind:
                    try:
                        on_message(msg[1], msg[2])
                    except Exception:  # noqa: BLE001 - one bad message must not stop fan-out
                        log.exception("pubsub message handler failed")
                else:
                    self._on_push(msg)
            else:
                self._on_reply(msg)

    def _on_push(self, msg: list[Any]) -> None:
        if msg[0] == b"subscribe":
            waiters = self._pending.get(msg[1])
            if waiters:
                fut = waiters.popleft()
                if not waiters:
                    del self._pending[msg[1]]
                if not fut.done():
                    fut.set_result(None)

    def _on_reply(self, msg: Any) -> bool:
        """An AUTH answer, if one is awaited (returns whether it was one)."""
        if not self._auth:
            return False
        fut = self._auth.popleft()
        if not fut.done():
            if isinstance(msg, hiredis.ReplyError):
                fut.set_exception(ConnectionError(str(msg)))
            else:
                fut.set_result(None)
        return True

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


def _redis_auth(url: str) -> tuple[str | None, str | None]:
    parsed = urlparse(url)
    if not parsed.password:
        return None, None
    return (unquote(parsed.username) if parsed.username else None), unquote(parsed.password)


async def _open(
    factory: Callable[[], PubSubConnection],
    url: str,
    host: str | None = None,
    port: int | None = None,
    within: float | None = None,
) -> Any:
    """Connect `factory()`'s protocol to the server of `url` (or `host:port`, with `url`'s
    credentials and TLS) and authenticate."""
    parsed = urlparse(url)
    loop = asyncio.get_running_loop()
    if parsed.scheme == "unix" and host is None:
        connecting = loop.create_unix_connection(factory, parsed.path)
    else:
        ssl = parsed.scheme == "rediss" or None
        connecting = loop.create_connection(
            factory, host or parsed.hostname or "127.0.0.1", port or parsed.port or 6379, ssl=ssl
        )
    transport, proto = await asyncio.wait_for(connecting, within)
    username, password = _redis_auth(url)
    if password:
        try:
            await asyncio.wait_for(proto.authenticate(username, password), within)
        except BaseException:
            transport.close()
            raise
    return proto


async def open_pubsub(url: str, on_message: Callable[[bytes, bytes], None]) -> PubSubConnection:
    """Connect to the Redis server named by a redis:// URL (db is irrelevant for pub/sub)."""
    conn: PubSubConnection = await _open(lambda: PubSubConnection(on_message), url)
    return conn


# --- Redis Cluster: sharded pub/sub ---------------------------------------------------------

SLOTS = 16384


class ShardConnection(PubSubConnection):
    """One master's sharded pub/sub socket (SSUBSCRIBE/SUNSUBSCRIBE, `smessage`).

    Every SSUBSCRIBE or SUNSUBSCRIBE names one channel and gets exactly one reply, in order
    (a confirmation or an error such as MOVED), so a FIFO of what was sent pairs each reply
    with its command. A `sunsubscribe` nobody asked for is the server dropping the channel
    (its slot moved to another shard): `on_dropped(self, channel)`. `on_closed(self)` runs
    when the socket is gone.
    """

    def __init__(
        self,
        addr: str,
        on_message: Callable[[bytes, bytes], None],
        on_dropped: Callable[[ShardConnection, bytes], None],
        on_closed: Callable[[ShardConnection], None],
    ) -> None:
        super().__init__(on_message)
        self.addr = addr
        self.on_dropped = on_dropped
        self.on_closed = on_closed
        #: (is a subscribe, channel, waiter) per command sent, oldest first.
        self._sent: deque[tuple[bool, bytes, asyncio.Future[None] | None]] = deque()

    MESSAGE_KIND = b"smessage"

    def _on_push(self, msg: list[Any]) -> None:
        kind = msg[0]
        if kind == b"ssubscribe":
            self._confirmed(True, msg[1])
        elif kind == b"sunsubscribe":
            self._confirmed(False, msg[1])

    def _on_reply(self, msg: Any) -> bool:
        if super()._on_reply(msg):
            return True
        if not (isinstance(msg, hiredis.ReplyError) and self._sent):
            return False
        # A refused SSUBSCRIBE/SUNSUBSCRIBE (MOVED, ...): the oldest command sent.
        is_sub, channel, waiter = self._sent.popleft()
        log.info(
            "sharded %s of %r on %s: %s",
            "subscribe" if is_sub else "unsubscribe",
            channel,
            self.addr,
            msg,
        )
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError(f"{msg} (on {self.addr})"))
        self.on_dropped(self, channel)
        return True

    def _confirmed(self, is_sub: bool, channel: bytes) -> None:
        sent = self._sent
        if sent and sent[0][0] == is_sub and sent[0][1] == channel:
            fut = sent.popleft()[2]
            if fut is not None and not fut.done():
                fut.set_result(None)
        elif not is_sub:
            self.on_dropped(self, channel)  # the server unsubscribed us (slot migrated)

    def connection_lost(self, exc: Exception | None) -> None:
        err = ConnectionError(f"redis shard {self.addr} connection lost")
        sent, self._sent = self._sent, deque()
        for _, _, fut in sent:
            if fut is not None and not fut.done():
                fut.set_exception(err)
        super().connection_lost(exc)
        self.on_closed(self)

    def subscribe_nowait(self, channel: bytes) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self.connected:
            fut.set_exception(ConnectionError(f"redis shard {self.addr} not connected"))
            return fut
        self._sent.append((True, channel, fut))
        assert self.transport is not None
        self.transport.write(_command(b"SSUBSCRIBE", channel))
        return fut

    def unsubscribe(self, channel: bytes) -> None:
        if self.connected:
            self._sent.append((False, channel, None))
            assert self.transport is not None
            self.transport.write(_command(b"SUNSUBSCRIBE", channel))


def _address(host: bytes | str, port: int) -> str:
    return f"{host.decode() if isinstance(host, bytes) else host}:{int(port)}"


def _split(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host, int(port)


class ClusterPubSub:
    """Pub/sub over a Redis Cluster: sharded channels routed channel -> slot -> master.

    Keeps one `ShardConnection` per master and a classic connection to any node for the
    broadcast channels (control messages: a cluster forwards classic PUBLISH to every node).
    The slot map comes from CLUSTER SLOTS, read at start, every `refresh_interval` seconds and
    at once after anything suggesting it changed (a shard connection lost, a MOVED reply, a
    channel dropped by the server). A channel whose subscription was lost or has to move to
    another shard is handed to `on_lost` (the hub resets its subscribers with 2500, so SDKs
    resubscribe and recover through the new owner); `shard_channels` (this process's own
    channel) are resubscribed here. Nothing of this runs per publication: messages go from
    the socket to `on_message` exactly as on plain Redis.
    """

    def __init__(
        self,
        url: str,
        on_message: Callable[[bytes, bytes], None],
        on_lost: Callable[[list[bytes]], None],
        *,
        shard_channels: Iterable[bytes] = (),
        broadcast_channels: Iterable[bytes] = (),
        refresh_interval: float = 5.0,
        connect_timeout: float = 2.0,
    ) -> None:
        parsed = urlparse(url)
        self.url = url
        self.on_message = on_message
        self.on_lost = on_lost
        self.shard_channels = set(shard_channels)
        self.broadcast_channels = list(broadcast_channels)
        self.refresh_interval = refresh_interval
        self.connect_timeout = connect_timeout
        #: Every node address seen (masters and replicas): where to ask for the topology.
        self.nodes: list[str] = [_address(parsed.hostname or "127.0.0.1", parsed.port or 6379)]
        self.owners: list[str | None] = [None] * SLOTS
        self.conns: dict[str, ShardConnection] = {}
        #: channel -> the shard connection it was subscribed on (or is being subscribed on).
        self.routes: dict[bytes, ShardConnection] = {}
        self.broadcast: PubSubConnection | None = None
        self.refreshes = 0
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # --- the interface Hub uses (as PubSubConnection) ---------------------------------

    @property
    def connected(self) -> bool:
        return not self._closed and bool(self.conns)

    def subscribe_nowait(self, channel: bytes) -> asyncio.Future[None]:
        conn = self.conns.get(self.owners[key_slot(channel)] or "")
        if conn is None or not conn.connected:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            fut.set_exception(ConnectionError("no connection to the channel's redis shard yet"))
            self.kick()
            return fut
        self.routes[channel] = conn
        return conn.subscribe_nowait(channel)

    def unsubscribe(self, channel: bytes) -> None:
        conn = self.routes.pop(channel, None)
        if conn is not None:
            conn.unsubscribe(channel)

    def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
        for conn in list(self.conns.values()):
            conn.close()
        self.conns.clear()
        self.routes.clear()
        if self.broadcast is not None:
            self.broadcast.close()

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Read the topology and connect to every master; raises when no node answers."""
        await self._refresh()
        if not self.conns or self.broadcast is None:
            raise ConnectionError("redis cluster: no master could be reached")
        self._task = asyncio.get_running_loop().create_task(self._keeper())

    def kick(self) -> None:
        """Re-read the topology soon (something suggests it changed)."""
        self._kick.set()

    async def _keeper(self) -> None:
        delay = 0.1
        while not self._closed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self.refresh_interval)
            self._kick.clear()
            try:
                complete = await self._refresh()
            except Exception as e:  # noqa: BLE001 - the cluster is unreachable: keep trying
                log.warning("redis cluster topology refresh failed: %r", e)
                complete = False
            if complete:
                delay = 0.1
            else:  # a master or the broadcast connection is missing: try again soon
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                self._kick.set()

    # --- topology ----------------------------------------------------------------------

    async def _cluster_slots(self) -> list[Any]:
        nodes = list(self.nodes)
        random.shuffle(nodes)
        last: Exception | None = None
        for addr in nodes:
            host, port = _split(addr)
            try:
                return await asyncio.wait_for(
                    _query(self.url, host, port, b"CLUSTER", b"SLOTS"), self.connect_timeout
                )
            except Exception as e:  # noqa: BLE001 - try the next node
                last = e
        raise ConnectionError(f"no redis cluster node answered CLUSTER SLOTS: {last!r}")

    async def _refresh(self) -> bool:
        """Apply the current slot map: connect new masters, move channels whose slot changed
        owner, resubscribe this process's own channels. True when nothing is missing."""
        reply = await self._cluster_slots()
        self.refreshes += 1
        owners: list[str | None] = [None] * SLOTS
        seen = set(self.nodes)
        for item in reply:
            start, end, master = int(item[0]), int(item[1]), item[2]
            addr = _address(master[0] or b"127.0.0.1", master[1])
            owners[start : end + 1] = [addr] * (end - start + 1)
            for node in item[2:]:
                naddr = _address(node[0] or b"127.0.0.1", node[1])
                if naddr not in seen:
                    seen.add(naddr)
                    self.nodes.append(naddr)
        self.owners = owners
        masters = {a for a in owners if a is not None}
        complete = True
        for addr in masters:
            conn = self.conns.get(addr)
            if conn is not None and conn.connected:
                continue
            try:
                self.conns[addr] = await self._connect_shard(addr)
            except Exception as e:  # noqa: BLE001 - a master that just died: retried soon
                log.warning("redis shard %s unreachable: %r", addr, e)
                complete = False
        # Channels subscribed on a node that no longer owns their slot move to the owner.
        moved = [ch for ch, conn in self.routes.items() if owners[key_slot(ch)] != conn.addr]
        for ch in moved:
            conn = self.routes.pop(ch)
            conn.unsubscribe(ch)
        lost = [ch for ch in moved if ch not in self.shard_channels]
        if lost:
            log.warning("redis cluster: %d channel(s) moved to another shard", len(lost))
            self.on_lost(lost)
        for addr, conn in list(self.conns.items()):
            if addr not in masters and not any(c is conn for c in self.routes.values()):
                del self.conns[addr]
                conn.close()
        for ch in self.shard_channels:
            if ch not in self.routes:
                fut = self.subscribe_nowait(ch)
                fut.add_done_callback(_consume)
                complete = complete and ch in self.routes
        if self.broadcast is None or not self.broadcast.connected:
            self.broadcast = None
            try:
                self.broadcast = await self._connect_broadcast()
            except Exception as e:  # noqa: BLE001 - retried soon
                log.warning("redis cluster: control channel connection failed: %r", e)
                complete = False
        return complete

    async def _connect_shard(self, addr: str) -> ShardConnection:
        host, port = _split(addr)
        conn: ShardConnection = await _open(
            lambda: ShardConnection(addr, self.on_message, self._dropped, self._closed_conn),
            self.url,
            host,
            port,
            self.connect_timeout,
        )
        return conn

    async def _connect_broadcast(self) -> PubSubConnection:
        """A classic pub/sub connection to any reachable node, subscribed to the broadcast
        channels. It is replaced (on another node if need be) when it drops."""
        nodes = list(self.nodes)
        random.shuffle(nodes)
        last: Exception | None = None
        for addr in nodes:
            host, port = _split(addr)
            try:
                conn: PubSubConnection = await _open(
                    lambda: PubSubConnection(self.on_message),
                    self.url,
                    host,
                    port,
                    self.connect_timeout,
                )
            except Exception as e:  # noqa: BLE001 - try the next node
                last = e
                continue
            try:
                for ch in self.broadcast_channels:
                    await asyncio.wait_for(conn.subscribe(ch), self.connect_timeout)
            except BaseException:
                conn.close()
                raise
            conn.closed.add_done_callback(lambda _f: self.kick())
            return conn
        raise ConnectionError(f"no redis cluster node reachable: {last!r}")

    def _dropped(self, conn: ShardConnection, channel: bytes) -> None:
        """The server refused or dropped `channel` on `conn` (MOVED, slot migrated)."""
        if self.routes.get(channel) is conn:
            del self.routes[channel]
            if channel not in self.shard_channels:
                self.on_lost([channel])
        self.kick()

    def _closed_conn(self, conn: ShardConnection) -> None:
        if self.conns.get(conn.addr) is conn:
            del self.conns[conn.addr]
        lost = [ch for ch, c in self.routes.items() if c is conn]
        for ch in lost:
            del self.routes[ch]
        if self._closed:
            return
        if lost:
            log.warning("redis shard %s lost; %d channel(s) to resubscribe", conn.addr, len(lost))
            self.on_lost([ch for ch in lost if ch not in self.shard_channels])
        self.kick()


def _consume(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()


class _Query(asyncio.Protocol):
    """One command on a short-lived connection (CLUSTER SLOTS), parsed with hiredis."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.replies: asyncio.Queue[Any] = asyncio.Queue()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a TCP connection's: a stream

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (msg := self.reader.gets()) is not False:
            self.replies.put_nowait(msg)

    def connection_lost(self, exc: Exception | None) -> None:
        self.replies.put_nowait(ConnectionError("connection lost"))


async def _query(url: str, host: str, port: int, *command: bytes) -> Any:
    parsed = urlparse(url)
    loop = asyncio.get_running_loop()
    ssl = parsed.scheme == "rediss" or None
    transport, proto = await loop.create_connection(_Query, host, port, ssl=ssl)
    try:
        username, password = _redis_auth(url)
        if password:
            auth = [b"AUTH"] + ([username.encode()] if username else []) + [password.encode()]
            transport.write(_command(*auth))
        transport.write(_command(*command))
        if password:
            reply = await proto.replies.get()
            if isinstance(reply, Exception):
                raise ConnectionError(str(reply))
        reply = await proto.replies.get()
        if isinstance(reply, Exception):
            raise ConnectionError(str(reply))
        return reply
    finally:
        transport.close()
