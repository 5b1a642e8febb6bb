"""The node (centrifuge's `Node`): the `Engine`, one per hub process, joining the Redis
broker, the pub/sub connection, the local hub (realtime.hub: channel -> subscribers) and the
connected clients; it serves the server API (publish, disconnect, unsubscribe, history,
presence, nodes) and runs housekeeping (pings, pong timeouts, token expiry, presence refresh).

The class keeps the name `Engine` (with `EngineConfig`): it is the package's public entry
point, which the hub, the workers, the benches and the tests construct by that name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from realtime import errors, metrics
from realtime.broker import Broker, PublishResult, StreamState, connect_redis
from realtime.client import Client
from realtime.config import EngineConfig
from realtime.errors import UnknownChannel
from realtime.fanout import DirectWrites
from realtime.hub import Hub, Sub
from realtime.policy import Authenticator, ChannelPolicy
from realtime.pubsub import ClusterPubSub, PubSubConnection, open_pubsub
from realtime.states import ClientState, SubState
from realtime.transports import WEBSOCKET

log = logging.getLogger("realtime.node")


def _resignal(signum: int) -> None:
    """After draining, let the signal do what it would have done without us."""
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


class Engine:
    """The realtime engine. Create once per process; `start()` before serving, `stop()` after.

    `lifespan` is an async context manager factory usable directly in
    `Litestar(lifespan=[engine.lifespan])`.
    """

    def __init__(
        self,
        redis_url: str,
        policy: ChannelPolicy,
        authenticator: Authenticator,
        config: EngineConfig | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.policy = policy
        self.authenticator = authenticator
        self.config = config or EngineConfig()
        #: redis-py's client: Redis, or a RedisCluster with `config.redis_cluster`.
        self.redis: Any = None
        self.broker: Broker = None  # type: ignore[assignment]
        self.hub: Hub = None  # type: ignore[assignment]
        self.clients: set[Client] = set()
        self.users: dict[str, set[Client]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        self._pubsub: PubSubConnection | ClusterPubSub | None = None
        self._pubsub_ok: asyncio.Event | None = None
        self._running = False
        #: The direct-write batching: shared frames and per-client queues, flushed once per
        #: loop iteration (clients report their queues to it, the hub shares frames through it).
        self.fanout = DirectWrites(self.config)
        self.node_id = uuid.uuid4().hex[:12]
        #: Emulated connections (http_stream, sse) by session id; forwarded emulation
        #: requests waiting for the owning process to have handled them.
        self.sessions: dict[str, Client] = {}
        #: Set by drain(): new connections are told to reconnect elsewhere at once.
        self.draining = False
        self._signals: dict[int, Any] = {}
        self._acks: dict[str, asyncio.Future[None]] = {}
        self.node_name = f"{socket.gethostname()}:{os.getpid()}"
        self.started_at = time.time()

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._running:
            return
        from realtime.keys import Keys

        self.redis = connect_redis(self.redis_url, cluster=self.config.redis_cluster)
        self.broker = Broker(
            self.redis,
            self.policy,
            prefix=self.config.prefix,
            history_meta_ttl_seconds=self.config.history_meta_ttl_seconds,
        )
        self.hub = Hub(Keys(self.config.prefix), self.fanout if self.config.direct_writes else None)
        self.hub.control_handler = self._on_control
        self.hub.node_channel = self.hub.keys.node(self.node_id)
        self.hub.node_handler = self._on_node_message
        self._pubsub_ok = asyncio.Event()
        if self.config.redis_cluster:
            await self._connect_cluster_pubsub()
        else:
            await self._connect_pubsub()
        self._running = True
        if self.config.drain_on_signals:
            self._install_drain_on_signals()
        loop = asyncio.get_running_loop()
        self._loops = [loop.create_task(self._housekeeping())]
        if not self.config.redis_cluster:  # the cluster router keeps its own connections
            self._loops.append(loop.create_task(self._pubsub_keeper()))

    def drain(self) -> None:
        """Tell every client to reconnect elsewhere (3001 "shutdown"), now, and refuse new ones
        the same way. Runs on SIGTERM/SIGINT before the server's own shutdown, which would
        otherwise close websockets with its 1012 first."""
        self.draining = True
        for client in list(self.clients):
            client.close(errors.DISCONNECT_SHUTDOWN)

    def _install_drain_on_signals(self) -> None:
        """Chain a drain in front of the server's handlers of SIGTERM and SIGINT (uvicorn
        installs its own with signal.signal; they still run, right after)."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)

            def handler(signum: int, frame: Any, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self.drain)
                if callable(previous):
                    previous(signum, frame)
                elif previous in (signal.SIG_DFL, None):  # no server handler: still exit
                    loop.call_soon_threadsafe(_resignal, signum)

            try:
                signal.signal(sig, handler)
            except (ValueError, OSError):
                return
            self._signals[sig] = previous

    def _restore_signals(self) -> None:
        for sig, previous in self._signals.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, previous)
        self._signals.clear()

    async def stop(self) -> None:
        """Close every client with 3001 "shutdown" (SDKs reconnect elsewhere), then stop."""
        if not self._running:
            return
        self._restore_signals()
        self.drain()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        self._running = False
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._pubsub is not None:
            self._pubsub.close()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.hdel(self.hub.keys.nodes, self.node_id)
            await self.redis.aclose()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[Engine]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- server API --------------------------------------------------------------------

    async def publish(
        self, channel: str, data: Any, idempotency_key: str | None = None
    ) -> PublishResult:
        """Publish a dict (or pre-encoded JSON bytes) to `channel`: offset and epoch.

        With `idempotency_key` the publication happens at most once per key and channel.
        """
        opts = self.policy.namespace_options(channel)
        if opts is None:
            raise UnknownChannel(channel)
        payload = data if isinstance(data, bytes) else msgspec.json.encode(data)
        result = await self.broker.publish_raw(channel, payload, opts, idempotency_key)
        if not result.duplicate:
            metrics.PUBLICATIONS.labels("server").inc()
        return result

    async def publish_many(self, items: list[Any]) -> list[PublishResult]:
        """Several publications in one Redis round trip: `(channel, data[, idempotency_key])`."""
        results = await self.broker.publish_many(items)
        metrics.PUBLICATIONS.labels("server").inc(sum(1 for r in results if not r.duplicate))
        return results

    async def disconnect_user(
        self,
        user_id: str,
        code: int = errors.DISCONNECT_FORCE_NO_RECONNECT.code,
        reason: str = errors.DISCONNECT_FORCE_NO_RECONNECT.reason,
    ) -> None:
        """Close all of `user_id`'s connections on every hub process (via Redis pub/sub)."""
        self._disconnect_local(user_id, code, reason)
        await self.broker.disconnect_user(user_id, code, reason)

    async def unsubscribe(
        self,
        user_id: str,
        channel: str,
        code: int = errors.UNSUBSCRIBE_SERVER.code,
        reason: str = errors.UNSUBSCRIBE_SERVER.reason,
    ) -> None:
        """End `user_id`'s subscriptions to `channel` on every hub process, now (removed from
        a private room, banned). Codes below 2500 keep the SDK unsubscribed."""
        self._unsubscribe_local(user_id, channel, code, reason)
        await self.broker.unsubscribe(user_id, channel, code, reason)

    async def history(
        self, channel: str, *, limit: int = 0, since: int | None = None, reverse: bool = False
    ) -> StreamState:
        """A channel's stream position and up to `limit` publications (-1: all kept)."""
        if self.policy.namespace_options(channel) is None:
            raise UnknownChannel(channel)
        return await self.broker.history(channel, since=since, limit=limit, reverse=reverse)

    async def history_remove(self, channel: str, where: Any = None) -> int:
        """Remove a channel's history (or the publications `where(data)` accepts)."""
        if self.policy.namespace_options(channel) is None:
            raise UnknownChannel(channel)
        return await self.broker.history_remove(channel, where)

    async def presence(self, channel: str) -> dict[str, dict[str, Any]]:
        """Who is subscribed to `channel` on every process: client id -> ClientInfo."""
        if self.policy.namespace_options(channel) is None:
            raise UnknownChannel(channel)
        out = {}
        for client_id, raw in (await self.broker.presence(channel)).items():
            try:
                info = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                continue
            out[client_id] = {
                "client": client_id,
                "user": info.get("user", ""),
                "conn_info": info.get("conn_info"),
            }
        return out

    async def check_redis(self) -> None:
        """Readiness: pub/sub is connected and Redis answers (on a cluster: any master; a
        failing shard alone does not make every process unready)."""
        pubsub = self._pubsub
        if pubsub is None or not pubsub.connected:
            raise ConnectionError("realtime pub/sub is not connected")
        await self.redis.ping()

    def node_info(self) -> dict[str, Any]:
        """This process's counts (what `nodes()` shows for it)."""
        return {
            "id": self.node_id,
            "name": self.node_name,
            "connections": len(self.clients),
            "users": len(self.users),
            "subscriptions": sum(len(c.subs) for c in self.clients),
            "channels": len(self.hub.entries) if self.hub is not None else 0,
            "uptime_seconds": int(time.time() - self.started_at),
            "updated_at": time.time(),
        }

    async def nodes(self) -> list[dict[str, Any]]:
        """Every live hub process with its connection, user, subscription and channel counts
        (each process reports every `node_info_interval`; silent ones are dropped)."""
        await self._report_node()
        return await self.broker.nodes(3 * self.config.node_info_interval)

    async def _report_node(self) -> None:
        await self.broker.report_node(
            self.node_id, self.node_info(), int(3 * self.config.node_info_interval) + 1
        )

    def _disconnect_local(self, user_id: str, code: int, reason: str) -> None:
        for client in list(self.users.get(user_id, ())):
            client.close(errors.Disconnect(code, reason))

    def _unsubscribe_local(self, user_id: str, channel: str, code: int, reason: str) -> None:
        for client in list(self.users.get(user_id, ())):
            client.server_unsubscribe(channel, code, reason)

    def _on_control(self, payload: bytes) -> None:
        try:
            msg = msgspec.json.decode(payload)
            op = msg.get("op")
            if op == "disconnect":
                self._disconnect_local(str(msg["user"]), int(msg["code"]), str(msg["reason"]))
            elif op == "unsubscribe":
                self._unsubscribe_local(
                    str(msg["user"]), str(msg["channel"]), int(msg["code"]), str(msg["reason"])
                )
        except Exception:  # noqa: BLE001
            log.warning("bad control message %r", payload[:200])

    # --- clients -----------------------------------------------------------------------

    def connection(
        self, asgi_send: Any, protobuf: bool, direct: Any = None, transport: Any = WEBSOCKET
    ) -> Client:
        client = Client(
            self, asgi_send, protobuf, direct if self.config.direct_writes else None, transport
        )
        self.clients.add(client)
        if client.session:
            self.sessions[client.session] = client
        metrics.CONNECTIONS.inc()
        metrics.CONNECTS.labels(transport.name).inc()
        client.start()
        if self.draining:
            asyncio.get_running_loop().call_soon(client.close, errors.DISCONNECT_SHUTDOWN)
        return client

    async def emulate(self, node_id: str, session: str, data: str | bytes) -> bool:
        """Commands for the emulated connection `session` on process `node_id` (a POST to
        /emulation may reach any process), handled before this returns, as in Centrifugo, so
        commands POSTed one after another are handled in that order wherever they land.
        False: no such process (the SDK reconnects)."""
        if node_id == self.node_id:
            client = self.sessions.get(session)
            if client is not None:
                await client.handle_emulated(data)
            return True  # a session that has ended: its stream has ended too
        raw = data.encode() if isinstance(data, str) else data
        ack = uuid.uuid4().hex
        head = {
            "session": session,
            "pb": not isinstance(data, str),
            "ack": ack,
            "from": self.node_id,
        }
        waiter = asyncio.get_running_loop().create_future()
        self._acks[ack] = waiter
        try:
            receivers = await self.broker.publish_to(
                self.hub.keys.node(node_id), msgspec.json.encode(head) + b"\n" + raw
            )
            if not receivers:
                return False
            await asyncio.wait_for(waiter, self.config.emulation_timeout)
            return True
        finally:
            self._acks.pop(ack, None)

    def _on_node_message(self, payload: bytes) -> None:
        head, _, raw = payload.partition(b"\n")
        try:
            msg = msgspec.json.decode(head)
            acked = msg.get("ack_of")
            if acked is not None:
                waiter = self._acks.get(str(acked))
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                return
            session, ack, sender = str(msg["session"]), str(msg["ack"]), str(msg["from"])
        except Exception:  # noqa: BLE001
            log.warning("bad node message %r", payload[:200])
            return
        data: str | bytes = raw if msg.get("pb") else raw.decode()
        self.spawn(self._quietly(self._emulated_for(session, data, ack, sender)))

    async def _emulated_for(self, session: str, data: str | bytes, ack: str, sender: str) -> None:
        client = self.sessions.get(session)
        try:
            if client is not None:
                await client.handle_emulated(data)
        finally:
            await self.broker.publish_to(
                self.hub.keys.node(sender), msgspec.json.encode({"ack_of": ack})
            )

    def attach_user(self, client: Client) -> None:
        user_id = client.creds.user_id
        if user_id is not None:
            self.users.setdefault(user_id, set()).add(client)

    def detach(self, client: Client) -> None:
        """Called once when a client closes: drop subscriptions and Redis bookkeeping."""
        if client in self.clients:
            self.clients.discard(client)
            metrics.CONNECTIONS.dec()
        if client.session:
            self.sessions.pop(client.session, None)
        user_id = client.creds.user_id
        if user_id is not None:
            conns = self.users.get(user_id)
            if conns is not None:
                conns.discard(client)
                if not conns:
                    del self.users[user_id]
        for sub in list(client.subs.values()):
            self.drop_sub(client, sub)
        if user_id is not None and self.config.max_connections_per_user > 0 and self._running:
            self.spawn(self._quietly(self.broker.user_disconnect(user_id, client.id)))

    def drop_sub(self, client: Client, sub: Sub, notify: bool = True) -> None:
        """Remove one subscription locally; presence/leave cleanup happens in the background."""
        if client.subs.get(sub.channel) is sub:
            del client.subs[sub.channel]
            metrics.SUBSCRIPTIONS.dec()
        was_joined = sub.entry is not None and sub.state != SubState.SUBSCRIBING
        self.hub.remove(client, sub)
        sub.buffer = None
        if notify and was_joined and sub.opts.presence and self._running:
            self.spawn(self._quietly(self.leave(client, sub)))

    async def join(self, client: Client, sub: Sub) -> None:
        try:
            await self.broker.presence_add(
                sub.channel, client.id, client.info, self.config.presence_ttl
            )
            if sub.opts.join_leave:
                await self.broker.publish_join_leave(sub.channel, b"j", client.info)
        except Exception as e:  # noqa: BLE001
            log.warning("presence join on %s failed: %r", sub.channel, e)

    async def leave(self, client: Client, sub: Sub) -> None:
        await self.broker.presence_remove(sub.channel, client.id)
        if sub.opts.join_leave:
            await self.broker.publish_join_leave(sub.channel, b"l", client.info)

    @staticmethod
    async def _quietly(coro: Any) -> None:
        try:
            await coro
        except Exception as e:  # noqa: BLE001
            log.warning("background redis operation failed: %r", e)

    # --- pub/sub -----------------------------------------------------------------------

    async def _connect_pubsub(self) -> None:
        conn = await open_pubsub(self.redis_url, self.hub.on_message)
        await conn.subscribe(self.hub.keys.control)
        await conn.subscribe(self.hub.node_channel)
        self._pubsub = conn
        self.hub.pubsub = conn
        assert self._pubsub_ok is not None
        self._pubsub_ok.set()

    async def _connect_cluster_pubsub(self) -> None:
        """Sharded pub/sub on a Redis Cluster: a channel is subscribed on the master owning
        its slot; this process's own channel is a sharded channel too, control messages
        are classic pub/sub (a cluster broadcasts them to every node)."""
        router = ClusterPubSub(
            self.redis_url,
            self.hub.on_message,
            self.hub.reset_channels,
            shard_channels=[self.hub.node_channel],
            broadcast_channels=[self.hub.keys.control],
            refresh_interval=self.config.cluster_refresh_interval,
        )
        await router.start()
        self._pubsub = router
        self.hub.pubsub = router
        assert self._pubsub_ok is not None
        self._pubsub_ok.set()

    async def _pubsub_keeper(self) -> None:
        """Reconnect pub/sub when it drops; every local subscription is reset (2500) so the
        SDKs resubscribe and recover what was published meanwhile."""
        delay = 0.1
        while True:
            conn = self._pubsub
            if isinstance(conn, PubSubConnection):
                await asyncio.shield(conn.closed)
            if not self._running:
                return
            log.warning("redis pubsub connection lost; reconnecting")
            self.hub.reset()
            try:
                await self._connect_pubsub()
                delay = 0.1
            except Exception as e:  # noqa: BLE001
                log.warning("pubsub reconnect failed: %r", e)
                self._pubsub = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # --- housekeeping ------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        cfg = self.config
        next_presence = time.monotonic() + cfg.presence_refresh_interval
        next_report = 0.0
        while True:
            await asyncio.sleep(cfg.tick_interval)
            try:
                now = time.monotonic()
                wall = time.time()
                for client in list(self.clients):
                    state = client.state
                    if state == ClientState.CONNECTING:
                        if now > client.connect_deadline:
                            client.close(errors.DISCONNECT_STALE)
                        continue
                    if state != ClientState.CONNECTED:
                        continue
                    if client.pong_deadline and now > client.pong_deadline:
                        client.close(errors.DISCONNECT_NO_PONG)
                        continue
                    expires_at = client.creds.expires_at
                    if expires_at is not None and wall > expires_at + cfg.token_expiry_grace:
                        client.close(errors.DISCONNECT_EXPIRED)
                        continue
                    if now >= client.next_ping:
                        client.send(client.codec.ping_item)
                        client.next_ping = now + cfg.ping_interval
                        if not client.pong_deadline:
                            client.pong_deadline = now + cfg.pong_timeout
                if now >= next_presence:
                    next_presence = now + cfg.presence_refresh_interval
                    self.spawn(self._quietly(self._refresh_presence()))
                if now >= next_report:
                    next_report = now + cfg.node_info_interval
                    self.spawn(self._quietly(self._report_node()))
            except Exception:  # noqa: BLE001
                log.exception("housekeeping failed")

    async def _refresh_presence(self) -> None:
        presence = []
        users = []
        for client in list(self.clients):
            if client.state == ClientState.CLOSED:
                continue
            if client.creds.user_id is not None:
                users.append((client.creds.user_id, client.id))
            for sub in client.subs.values():
                if sub.opts.presence and sub.state != SubState.SUBSCRIBING:
                    presence.append((sub.channel, client.id, client.info))
        await self.broker.presence_refresh(presence, self.config.presence_ttl)
        if self.config.max_connections_per_user > 0:
            await self.broker.user_refresh(users, self.config.presence_ttl)
