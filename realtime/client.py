"""One websocket connection: protocol state machine, command handlers, send queue and limits.

Everything the server sends goes through one bounded queue drained by one writer task, so
replies and pushes keep their order and several pending items leave as one frame. The queue
bound isolates a slow reader: on overflow the connection is closed with 3008 "slow" and its
memory released, while other subscribers of the same channels are unaffected.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from realtime import errors, metrics
from realtime.errors import (
    BadRequest,
    Disconnect,
    InvalidToken,
    ProtocolError,
    PublishRejected,
    TokenExpired,
)
from realtime.fanout import frames
from realtime.hub import Sub
from realtime.lean import LeanEvent
from realtime.policy import ANONYMOUS, Credentials, user_limit_of
from realtime.protocol.codec import Command, JsonCodec, ProtobufCodec
from realtime.states import ClientState
from realtime.transports import WEBSOCKET, Transport

if TYPE_CHECKING:
    from realtime.node import Engine

log = logging.getLogger("realtime.client")

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode

FLAG_REJECT_UNRECOVERED = 2

CONNECTING, CONNECTED, CLOSED = ClientState.CONNECTING, ClientState.CONNECTED, ClientState.CLOSED


def client_info(raw: bytes) -> dict[str, Any] | None:
    """A ClientInfo for replies from the info JSON the broker stores: `conn_info` kept as raw
    JSON (embedded in JSON replies, bytes in Protobuf ones)."""
    try:
        info = _decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    if not isinstance(info, dict):
        return None
    out: dict[str, Any] = {
        "user": str(info.get("user") or ""),
        "client": str(info.get("client") or ""),
    }
    if info.get("conn_info") is not None:
        out["conn_info"] = msgspec.Raw(_encode(info["conn_info"]))
    return out


def publication(entry: Any, text: bool = False) -> dict[str, Any]:
    """A history entry as a Publication of a subscribe or history reply (`text`: the JSON
    document as a JSON string, as fossil-delta subscribers on JSON take it)."""
    data = _encode(entry.data.decode()) if text else entry.data
    pub: dict[str, Any] = {"data": msgspec.Raw(data), "offset": entry.offset}
    if entry.info is not None:
        info = client_info(entry.info)
        if info is not None:
            pub["info"] = info
    return pub


def _abort_if_open(transport: Any) -> None:
    """The close handshake did not finish in time: close the socket, or drop it when the peer
    has not even read what was written (it would never let a graceful close finish)."""
    try:
        if transport.get_write_buffer_size() > 0:
            transport.abort()
        else:
            transport.close()
    except Exception:  # noqa: BLE001 - already gone
        pass


class ReplyError(Exception):
    def __init__(self, error: ProtocolError) -> None:
        super().__init__(error.message)
        self.error = error


class Close(Exception):
    def __init__(self, disconnect: Disconnect) -> None:
        super().__init__(disconnect.reason)
        self.disconnect = disconnect


def _str(params: dict[str, Any], key: str, required: bool = False) -> str:
    value = params.get(key)
    if value is None:
        if required:
            raise ReplyError(errors.ERROR_BAD_REQUEST)
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


def _int(params: dict[str, Any], key: str, default: int = 0) -> int:
    value = params.get(key, default)
    if value is None:
        return default
    if type(value) is not int:
        raise BadRequest(f"{key} must be an integer")
    return value


def _bool(params: dict[str, Any], key: str) -> bool:
    value = params.get(key, False)
    if value is None:
        return False
    if type(value) is not bool:
        raise BadRequest(f"{key} must be a boolean")
    return value


class Client:
    __slots__ = (
        "engine",
        "asgi_send",
        "codec",
        "is_pb",
        "id",
        "state",
        "creds",
        "info",
        "subs",
        "queue",
        "_qbytes",
        "_waiter",
        "_writer",
        "_tokens",
        "_refill_at",
        "next_ping",
        "pong_deadline",
        "connect_deadline",
        "slow",
        "direct",
        "kind",
        "_dirty",
        "blocked",
        "direct_write",
        "direct_transport",
        "writable",
        "transport",
        "session",
        "done",
        "_inbox",
        "__weakref__",
    )

    def __init__(
        self,
        engine: Engine,
        asgi_send: Any,
        protobuf: bool,
        direct: Any = None,
        transport: Transport = WEBSOCKET,
    ) -> None:
        self.engine = engine
        self.asgi_send = asgi_send
        #: How batches become ASGI messages and how the stream ends (websocket, http_stream,
        #: sse); emulated transports also get a session id for their /emulation requests.
        self.transport = transport
        self.session = str(uuid.uuid4()) if transport.emulated else ""
        #: Emulated transports: resolved once the end of the stream was sent (or the peer left),
        #: so the HTTP handler can return; commands of one session are handled in order.
        self.done: asyncio.Future[None] | None = None
        self._inbox: asyncio.Lock | None = None
        if transport.emulated:
            self.done = asyncio.get_running_loop().create_future()
            self._inbox = asyncio.Lock()
        self.is_pb = protobuf
        self.codec: Any = ProtobufCodec if protobuf else JsonCodec
        #: The server's websocket protocol object when frames can be written to its transport
        #: directly (uvicorn's websockets-sansio); None: everything goes through ASGI send.
        self.direct = direct
        #: Which shared encoding of a publication this client takes (see Hub.on_publication):
        #: 0 JSON str (ASGI), 1 Protobuf bytes, 2 JSON bytes (direct), 3 Protobuf (direct).
        self.kind = (1 if protobuf else 0) | (2 if direct is not None else 0)
        #: In the fan-out's list of clients to flush (realtime.fanout.DirectWrites.dirty).
        self._dirty = False
        # Direct-write state, public because the fan-out's per-subscriber loop
        # (DirectWrites._flush_group) reads it without method calls: the task waiting for the
        # peer to read again (None: not blocked), the protocol's flow-control event (a
        # LeanEvent: `value` is is_set() without a call), its transport and bound `write`.
        self.blocked: asyncio.Task[None] | None = None
        # Set for direct-write clients, the only ones the fan-out reads it of.
        self.writable: LeanEvent = None  # type: ignore[assignment]
        self.direct_transport: Any = None
        self.direct_write: Any = None
        if direct is not None:
            writable = direct.writable
            if not isinstance(writable, LeanEvent):  # the gateway has swapped it already
                writable = direct.writable = LeanEvent(writable.is_set())
            self.writable = writable
            self.direct_transport = direct.transport
            self.direct_write = direct.transport.write
        self.id = str(uuid.uuid4())
        self.state = CONNECTING
        self.creds: Credentials = ANONYMOUS
        self.info = b""
        self.subs: dict[str, Sub] = {}
        #: Items waiting for the writer (ASGI) or the next flush (direct). Read by the fan-out
        #: (a client with queued items does not join shared frames); only Client changes it.
        self.queue: list[Any] = []
        self._qbytes = 0
        self._waiter: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        cfg = engine.config
        self._tokens = float(cfg.command_burst)
        now = time.monotonic()
        self._refill_at = now
        self.next_ping = 0.0
        self.pong_deadline = 0.0
        self.connect_deadline = now + cfg.connect_timeout
        self.slow = False

    # --- sending -----------------------------------------------------------------------

    def start(self) -> None:
        if self.direct is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def send(self, payload: str | bytes) -> None:
        """Queue one codec payload (a reply, error or push) for this connection."""
        if self.direct is not None and isinstance(payload, str):  # JSON: frames are bytes
            payload = payload.encode()
        self.push(payload)

    def push(self, item: Any) -> None:
        """Queue one item already in this client's `kind` of encoding (shared by fan-out).

        Never blocks and never closes synchronously, so the fan-out loop can call it freely.
        """
        if self.state == CLOSED or self.slow:
            return
        q = self.queue
        if not q:  # from now on it takes no shared frames (see DirectWrites.share)
            self.engine.fanout.queue_started(self)
        q.append(item)
        self._qbytes += len(item)
        cfg = self.engine.config
        if self._qbytes > cfg.send_queue_max_bytes or len(q) > cfg.send_queue_max_messages:
            self._overflow()
            return
        if self.direct is not None:
            if not self._dirty:
                self._dirty = True
                self.engine.fanout.mark_dirty(self)
            return
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def requeue_front(self, items: list[Any], size: int) -> None:
        """Put a shared group's publications in front of this client's queue (it could not
        take the shared frame): they precede whatever was queued after them."""
        if self.state == CLOSED or self.slow:
            return
        q = self.queue
        if not q:
            self.engine.fanout.queue_started(self)
        q[0:0] = items
        self._qbytes += size
        cfg = self.engine.config
        if self._qbytes > cfg.send_queue_max_bytes or len(q) > cfg.send_queue_max_messages:
            self._overflow()
            return
        if not self._dirty:
            self._dirty = True
            self.engine.fanout.mark_dirty(self)

    def _overflow(self) -> None:
        """The send queue is over its bound: drop it and close with 3008 "slow" (soon, never
        synchronously: the fan-out loop may be iterating over this client's channels)."""
        self.slow = True
        self.queue = []
        self._qbytes = 0
        self.engine.fanout.queue_emptied(self)
        metrics.SLOW_DISCONNECTS.inc()
        asyncio.get_running_loop().call_soon(self.close, errors.DISCONNECT_SLOW)

    def flush_direct(self) -> None:
        """Write everything queued as one transport write (called by the fan-out's flush, once
        per loop iteration)."""
        self._dirty = False
        q = self.queue
        if not q or self.state == CLOSED:
            return
        proto = self.direct
        if proto.close_sent or proto.transport.is_closing():
            return
        if not proto.writable.is_set():  # the peer is not reading: keep queueing (bounded)
            if self.blocked is None:
                self.blocked = asyncio.get_running_loop().create_task(self._wait_writable())
            return
        self.queue = []
        self._qbytes = 0
        self.engine.fanout.queue_emptied(self)
        self.direct_write(self._frames(q))

    def _frames(self, items: list[bytes]) -> bytes:
        return frames(1 if self.is_pb else 0, items, self.engine.config.write_batch_max_bytes)

    async def _wait_writable(self) -> None:
        try:
            await self.direct.writable.wait()
        finally:
            self.blocked = None
        if self.queue and not self._dirty and self.state != CLOSED:
            self._dirty = True
            self.engine.fanout.mark_dirty(self)

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        send = self.asgi_send
        message = self.transport.message
        protobuf = self.is_pb
        limit = self.engine.config.write_batch_max_bytes
        try:
            while True:
                q = self.queue
                if not q:
                    waiter = self._waiter = loop.create_future()
                    await waiter
                    continue
                if self._qbytes <= limit:
                    items = q
                    self.queue = []
                    self._qbytes = 0
                    self.engine.fanout.queue_emptied(self)
                else:
                    size = 0
                    cut = 0
                    while cut < len(q) and size < limit:
                        size += len(q[cut])
                        cut += 1
                    items = q[:cut]
                    del q[:cut]
                    self._qbytes -= size
                await send(message(items, protobuf))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the socket is gone
            self.close(None)

    # --- closing -----------------------------------------------------------------------

    def close(self, disconnect: Disconnect | None) -> None:
        """Close with a close frame (`disconnect`), or silently (None: the peer is gone)."""
        if self.state == CLOSED:
            return
        self.state = CLOSED
        for task in (self._writer, self.blocked):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self._writer = self.blocked = None
        pending = [] if self.slow else self.queue
        self.queue = []
        self._qbytes = 0
        self.engine.fanout.queue_emptied(self)
        self.engine.detach(self)
        if disconnect is not None:
            metrics.DISCONNECTS.labels(str(disconnect.code)).inc()
            if self.direct is not None:
                # At once, not in a task: a server shutting down must have written 3001 to
                # every socket before its own close (uvicorn's 1012) goes out.
                try:
                    self._close_direct(self.direct, disconnect, pending)
                except Exception:  # noqa: BLE001 - already closed by the peer
                    pass
            else:
                self.engine.spawn(self._send_close(disconnect, pending))
        elif self.done is not None and not self.done.done():
            self.done.set_result(None)

    async def _send_close(self, disconnect: Disconnect, pending: list[Any]) -> None:
        try:
            # A peer that stopped reading never lets the end out: drop it after a while.
            async with asyncio.timeout(self.engine.config.close_timeout):
                for message in self.transport.closing(pending, self.is_pb, disconnect):
                    await self.asgi_send(message)
        except Exception:  # noqa: BLE001 - timed out, or already closed by the peer
            pass
        finally:
            if self.done is not None and not self.done.done():
                self.done.set_result(None)

    def _close_direct(self, proto: Any, disconnect: Disconnect, pending: list[Any]) -> None:
        """Close a direct-write websocket without waiting for uvicorn's `writable`: the close
        frame is queued at once behind what the socket buffers already hold, so a slow or
        silent consumer gets its 3008/3012 as soon as it reads that far. One that reads nothing
        for `close_timeout` is aborted (its SDK sees the connection drop and reconnects)."""
        transport = proto.transport
        if proto.close_sent or transport.is_closing():
            return
        if pending and proto.writable.is_set():
            transport.write(self._frames(pending))
        conn = proto.conn
        conn.send_close(disconnect.code, disconnect.reason)
        # What uvicorn's own "websocket.close" does, minus its wait for `writable`.
        proto.queue.put_nowait(
            {"type": "websocket.disconnect", "code": disconnect.code, "reason": disconnect.reason}
        )
        transport.write(b"".join(conn.data_to_send()))
        proto.close_sent = True
        if getattr(proto, "read_paused", False):
            proto.read_paused = False
            transport.resume_reading()
        # Keep reading until the peer echoes the close (uvicorn then closes the socket and
        # cancels this timer): closing at once would reset the connection if the peer's pongs
        # are still arriving, and it would lose the close frame with its unread data.
        proto.close_timer = asyncio.get_running_loop().call_later(
            self.engine.config.close_timeout, _abort_if_open, transport
        )

    def server_unsubscribe(self, channel: str, code: int, reason: str) -> bool:
        """The server ends this subscription (server API `unsubscribe`): push, then drop it
        (presence entry and leave included). False when not subscribed."""
        sub = self.subs.get(channel)
        if sub is None or self.state == CLOSED:
            return False
        self.send(self.codec.push(channel, "unsubscribe", {"code": code, "reason": reason}))
        self.engine.drop_sub(self, sub)
        return True

    def insufficient_state(self, sub: Sub) -> None:
        """The channel stream skipped: tell the SDK to resubscribe (and recover). A server-side
        subscription cannot be resubscribed alone: the connection is closed with 3010 and the
        SDK reconnects, recovering it on connect (as Centrifugo does)."""
        metrics.INSUFFICIENT_STATE.inc()
        if sub.server_side:
            self.engine.drop_sub(self, sub, notify=False)
            asyncio.get_running_loop().call_soon(self.close, errors.DISCONNECT_INSUFFICIENT_STATE)
            return
        code, reason = errors.UNSUBSCRIBE_INSUFFICIENT_STATE
        if self.subs.get(sub.channel) is sub:
            self.send(self.codec.push(sub.channel, "unsubscribe", {"code": code, "reason": reason}))
        self.engine.drop_sub(self, sub)

    # --- incoming ----------------------------------------------------------------------

    async def handle_frame(self, data: str | bytes) -> None:
        if len(data) > self.engine.config.max_frame_bytes:
            self.close(errors.DISCONNECT_MESSAGE_TOO_BIG)
            return
        try:
            if self.is_pb:
                if isinstance(data, str):
                    raise BadRequest("text frame on a protobuf connection")
                commands = ProtobufCodec.decode(data)
            else:
                commands = JsonCodec.decode(data)
        except BadRequest:
            metrics.COMMANDS.labels("frame", "bad_request").inc()
            self.close(errors.DISCONNECT_BAD_REQUEST)
            return
        for cmd in commands:
            if self.state == CLOSED:
                return
            await self.handle_command(cmd)

    async def handle_emulated(self, data: str | bytes) -> None:
        """Commands of an emulated transport (one POST /emulation body), in arrival order."""
        assert self._inbox is not None
        async with self._inbox:
            if self.state != CLOSED:
                await self.handle_frame(data)

    def _rate_ok(self) -> bool:
        cfg = self.engine.config
        now = time.monotonic()
        tokens = self._tokens + (now - self._refill_at) * cfg.commands_per_second
        self._refill_at = now
        if tokens > cfg.command_burst:
            tokens = float(cfg.command_burst)
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True

    async def handle_command(self, cmd: Command) -> None:
        method = cmd.method
        if method is None:
            if cmd.id == 0:
                self.pong_deadline = 0.0  # pong
                return
            # A command the protocol does not have: a protocol violation, as in Centrifugo.
            metrics.COMMANDS.labels("unknown", "bad_request").inc()
            self.close(errors.DISCONNECT_BAD_REQUEST)
            return
        if method == "send":
            return
        try:
            if cmd.id == 0:
                raise BadRequest("command id required")
            if self.state == CONNECTING:
                if method != "connect":
                    raise BadRequest("connect first")
            elif method == "connect":
                raise BadRequest("already connected")
            elif not self._rate_ok():
                raise ReplyError(errors.ERROR_TOO_MANY_REQUESTS)
            handler = getattr(self, "cmd_" + method)
            result = await handler(cmd.params, cmd.id)
            if result is not None and self.state != CLOSED:
                self.send(self.codec.reply(cmd.id, method, result))
            metrics.COMMANDS.labels(method, "ok").inc()
        except ReplyError as e:
            metrics.COMMANDS.labels(method, str(e.error.code)).inc()
            if self.state != CLOSED:
                self.send(self.codec.error(cmd.id, e.error))
        except PublishRejected as e:
            metrics.COMMANDS.labels(method, str(e.error.code)).inc()
            if self.state != CLOSED:
                self.send(self.codec.error(cmd.id, e.error))
        except Close as e:
            metrics.COMMANDS.labels(method, str(e.disconnect.code)).inc()
            self.close(e.disconnect)
        except BadRequest:
            metrics.COMMANDS.labels(method, "bad_request").inc()
            self.close(errors.DISCONNECT_BAD_REQUEST)
        except Exception:  # noqa: BLE001 - never let a bug kill the connection handler
            log.exception("command %s failed", method)
            metrics.COMMANDS.labels(method, "internal").inc()
            if self.state != CLOSED:
                self.send(self.codec.error(cmd.id, errors.ERROR_INTERNAL))

    # --- auth --------------------------------------------------------------------------

    async def _authenticate(self, token: str) -> Credentials:
        try:
            creds = await self.engine.authenticator.authenticate(token or None)
        except TokenExpired:
            raise ReplyError(errors.ERROR_TOKEN_EXPIRED) from None
        except InvalidToken:
            raise Close(errors.DISCONNECT_INVALID_TOKEN) from None
        if creds.expires_at is not None and creds.expires_at <= time.time():
            raise ReplyError(errors.ERROR_TOKEN_EXPIRED)
        return creds

    def _expiry(self, result: dict[str, Any]) -> dict[str, Any]:
        expires_at = self.creds.expires_at
        if expires_at is not None:
            result["expires"] = True
            result["ttl"] = max(1, int(expires_at - time.time()))
        return result

    async def cmd_connect(self, params: dict[str, Any], cid: int) -> dict[str, Any] | None:
        creds = await self._authenticate(_str(params, "token"))
        if self.state == CLOSED:
            return None
        engine = self.engine
        if creds.user_id is not None and engine.config.max_connections_per_user > 0:
            ok = await engine.broker.user_connect(
                creds.user_id,
                self.id,
                engine.config.max_connections_per_user,
                engine.config.presence_ttl,
            )
            if not ok:
                raise Close(errors.DISCONNECT_CONNECTION_LIMIT)
            if self.state == CLOSED:
                await engine.broker.user_disconnect(creds.user_id, self.id)
                return None
        self.creds = creds
        info: dict[str, Any] = {"user": creds.user_id or "", "client": self.id}
        if creds.info is not None:
            info["conn_info"] = creds.info
        self.info = _encode(info)
        self.state = CONNECTED
        engine.attach_user(self)
        self.next_ping = time.monotonic() + engine.config.ping_interval
        result = {
            "client": self.id,
            "version": engine.config.version,
            "ping": max(1, int(engine.config.ping_interval)),
            "pong": True,
        }
        server_subs = await self._server_subscriptions(params.get("subs"))
        if server_subs is None or self.state == CLOSED:
            return None
        if self.session:  # emulated transports address their commands with these
            result["session"] = self.session
            result["node"] = engine.node_id
        if server_subs:
            result["subs"] = {sub.channel: sub_result for sub, sub_result, _ in server_subs}
        self.send(self.codec.reply(cid, "connect", self._expiry(result)))
        for sub, _, state in server_subs:
            if self.subs.get(sub.channel) is sub:
                await self._go_live(sub, state)
        return None

    async def cmd_refresh(self, params: dict[str, Any], cid: int) -> dict[str, Any]:
        creds = await self._authenticate(_str(params, "token", required=True))
        if creds.user_id != self.creds.user_id:
            raise Close(errors.DISCONNECT_INVALID_TOKEN)
        self.creds = creds
        return self._expiry({"client": self.id, "version": self.engine.config.version})

    # --- channels ----------------------------------------------------------------------

    def _channel(self, params: dict[str, Any]) -> str:
        channel = _str(params, "channel")
        if not channel:  # a protocol violation (3501), as in Centrifugo
            raise BadRequest("channel required")
        if len(channel) > self.engine.config.max_channel_length:
            raise ReplyError(errors.ERROR_BAD_REQUEST)
        if not channel.isprintable() or " " in channel:
            raise ReplyError(errors.ERROR_BAD_REQUEST)
        return channel

    async def _check_read(self, channel: str) -> Any:
        """Namespace options if this connection may read `channel`, else a ReplyError."""
        opts = self.engine.policy.namespace_options(channel)
        if opts is None:
            raise ReplyError(errors.ERROR_UNKNOWN_CHANNEL)
        user = user_limit_of(channel)
        creds = self.creds
        if user is not None and (creds.user_id is None or user != creds.user_id):
            raise ReplyError(errors.ERROR_PERMISSION_DENIED)
        if creds.user_id is None and not opts.allow_anonymous:
            raise ReplyError(errors.ERROR_PERMISSION_DENIED)
        if not await self.engine.policy.can_subscribe(creds, channel):
            raise ReplyError(errors.ERROR_PERMISSION_DENIED)
        return opts

    async def _readable(self, channel: str) -> Any:
        """Presence and history ask the policy every time, subscribed or not: a permission
        withdrawn since the subscribe (a member removed, a ban) is enforced at once."""
        return await self._check_read(channel)

    async def cmd_subscribe(self, params: dict[str, Any], cid: int) -> None:
        channel = self._channel(params)
        existing = self.subs.get(channel)
        if existing is not None:
            if not existing.server_side:
                raise ReplyError(errors.ERROR_ALREADY_SUBSCRIBED)
            # A client-side subscribe takes a server-side subscription over (Centrifugo answers
            # 105): apps written before server-side subscriptions keep working unchanged.
            self.engine.drop_sub(self, existing, notify=False)
        opened = await self._open_sub(channel, params, server_side=False)
        if opened is None:
            return None
        sub, result, state = opened
        self.send(self.codec.reply(cid, "subscribe", result))
        await self._go_live(sub, state)
        return None

    async def _open_sub(
        self, channel: str, params: dict[str, Any], server_side: bool
    ) -> tuple[Sub, dict[str, Any], Any] | None:
        """Check, register and position one subscription (client- or server-side): the
        subscribe result, before any live publication is sent. None: the client closed."""
        recover = _bool(params, "recover")
        req_offset = _int(params, "offset")
        req_epoch = _str(params, "epoch")
        flag = _int(params, "flag")
        wants_join_leave = _bool(params, "join_leave")
        delta = _str(params, "delta")
        if delta and delta != "fossil":
            raise BadRequest("unknown delta type")
        if channel in self.subs:
            raise ReplyError(errors.ERROR_ALREADY_SUBSCRIBED)
        engine = self.engine
        if len(self.subs) >= engine.config.max_channels_per_connection:
            raise ReplyError(errors.ERROR_LIMIT_EXCEEDED)
        opts = await self._check_read(channel)
        if self.state == CLOSED:
            return None
        if channel in self.subs:
            raise ReplyError(errors.ERROR_ALREADY_SUBSCRIBED)
        sub = Sub(channel, opts, wants_join_leave and opts.join_leave, server_side)
        sub.delta = bool(delta) and opts.allow_delta
        self.subs[channel] = sub
        metrics.SUBSCRIPTIONS.inc()
        recoverable = opts.recoverable
        recovering = recover and recoverable
        # Cache mode: every subscribe gets the channel's latest publication (its current
        # state), recovering or not; a log of everything missed is not kept for it.
        cache = recoverable and opts.recovery_mode == "cache"
        cap = engine.config.max_recovery_limit
        try:
            await engine.hub.add(self, sub)
            if cache:
                state = await engine.broker.history(channel, limit=1, reverse=True)
            else:
                state = await engine.broker.history(
                    channel,
                    since=req_offset if recovering else None,
                    limit=min(cap, opts.history_size) if recovering else 0,
                )
        except Exception as e:  # noqa: BLE001 - Redis trouble: a temporary error, SDK retries
            if self.subs.get(channel) is sub:
                engine.drop_sub(self, sub, notify=False)
            if self.state == CLOSED:
                return None
            log.warning("subscribe %s failed: %r", channel, e)
            raise ReplyError(errors.ERROR_INTERNAL) from None
        if self.state == CLOSED or self.subs.get(channel) is not sub or sub.entry is None:
            if self.subs.get(channel) is sub:
                engine.drop_sub(self, sub, notify=False)
            if self.state == CLOSED:
                return None
            raise ReplyError(errors.ERROR_INTERNAL)

        result: dict[str, Any] = {}
        pubs: list[Any] = []
        if recoverable:
            result["recoverable"] = True
            result["positioned"] = True
            result["epoch"] = state.epoch
            result["offset"] = state.offset
        if sub.delta:
            result["delta"] = True
        if cache:
            latest = state.publications[0] if state.publications else None
            current = (
                recovering
                and req_offset > 0
                and req_offset == state.offset
                and req_epoch == state.epoch
            )
            recovered = current or (latest is not None and latest.offset == state.offset)
            if latest is not None and not current and latest.offset == state.offset:
                pubs = [latest]
            metrics.RECOVERIES.labels("cache" if recovered else "not_recovered").inc()
            if not recovered and recovering and flag & FLAG_REJECT_UNRECOVERED:
                engine.drop_sub(self, sub, notify=False)
                raise ReplyError(errors.ERROR_UNRECOVERABLE_POSITION)
            result["was_recovering"] = recovering
            result["recovered"] = recovered
        elif recovering:
            recovered = False
            # An empty epoch means "any epoch" (as in Centrifugo): `offset: 0, epoch: ""`
            # recovers the whole stream, e.g. a late joiner of a run in one step.
            if (not req_epoch or req_epoch == state.epoch) and req_offset <= state.offset:
                missing = state.offset - req_offset
                got = state.publications
                if missing == 0:
                    recovered = True
                elif len(got) == missing and got[0].offset == req_offset + 1:
                    recovered = True
                    pubs = got
            metrics.RECOVERIES.labels("recovered" if recovered else "not_recovered").inc()
            if not recovered and flag & FLAG_REJECT_UNRECOVERED:
                engine.drop_sub(self, sub, notify=False)
                raise ReplyError(errors.ERROR_UNRECOVERABLE_POSITION)
            result["was_recovering"] = True
            result["recovered"] = recovered
        if pubs:
            text = sub.delta and not self.is_pb  # delta subscribers take data as JSON strings
            result["publications"] = [publication(p, text) for p in pubs]
            if sub.delta:  # the last one sent is the base of the next delta
                last = pubs[-1]
                sub.base_offset = last.offset
                entry = sub.entry
                if entry is not None and (
                    last.offset > entry.prev_offset or entry.prev_epoch != state.epoch
                ):
                    entry.prev_epoch = state.epoch
                    entry.prev_offset, entry.prev_data = last.offset, last.data
        return sub, result, state

    async def _go_live(self, sub: Sub, state: Any) -> None:
        """After the subscribe result is queued: deliver what arrived meanwhile, go live, join."""
        engine = self.engine
        engine.hub.ready(self, sub, state.epoch, state.offset)
        if sub.opts.presence and self.subs.get(sub.channel) is sub:
            await engine.join(self, sub)

    async def _server_subscriptions(
        self, requested: Any
    ) -> list[tuple[Sub, dict[str, Any], Any]] | None:
        """Subscribe this new connection to the channels the policy names for it (personal
        channels), recovering from the positions the SDK sent in `connect.subs`. Returns the
        subscriptions whose results went into the connect reply; channels the policy refuses
        are left out. None: the client closed meanwhile."""
        policy_subs = getattr(self.engine.policy, "server_subscriptions", None)
        if policy_subs is None:
            return []
        channels = await policy_subs(self.creds)
        if not channels:
            return []
        if not isinstance(requested, dict):
            requested = {}
        opened: list[tuple[Sub, dict[str, Any], Any]] = []
        for channel in channels:
            params = requested.get(channel)
            try:
                res = await self._open_sub(
                    channel, params if isinstance(params, dict) else {}, server_side=True
                )
            except ReplyError as e:
                if e.error.code == errors.ERROR_INTERNAL.code:
                    for sub, _, _ in opened:
                        self.engine.drop_sub(self, sub, notify=False)
                    raise Close(errors.DISCONNECT_SERVER_ERROR) from None
                continue  # not readable (any more): simply not a server-side subscription
            if res is None:
                return None
            opened.append(res)
        return opened

    async def cmd_unsubscribe(self, params: dict[str, Any], cid: int) -> dict[str, Any]:
        channel = self._channel(params)
        sub = self.subs.get(channel)
        if sub is not None:
            self.engine.drop_sub(self, sub)
        return {}

    async def cmd_sub_refresh(self, params: dict[str, Any], cid: int) -> dict[str, Any]:
        channel = self._channel(params)
        if channel not in self.subs:
            raise ReplyError(errors.ERROR_PERMISSION_DENIED)
        return {}

    async def cmd_publish(self, params: dict[str, Any], cid: int) -> dict[str, Any]:
        channel = self._channel(params)
        engine = self.engine
        opts = engine.policy.namespace_options(channel)
        if opts is None:
            raise ReplyError(errors.ERROR_UNKNOWN_CHANNEL)
        creds = self.creds
        user = user_limit_of(channel)
        if (
            not opts.allow_publish
            or creds.user_id is None
            or (user is not None and user != creds.user_id)
        ):
            raise ReplyError(errors.ERROR_PERMISSION_DENIED)
        if not await engine.policy.can_publish(creds, channel):
            raise ReplyError(errors.ERROR_PERMISSION_DENIED)
        try:
            data = self.codec.data_value(params.get("data"))
        except ValueError:
            raise ReplyError(errors.ERROR_BAD_REQUEST) from None
        data = await engine.policy.on_publish(creds, channel, data)
        await engine.broker.publish_raw(channel, _encode(data), opts, info=self.info)
        metrics.PUBLICATIONS.labels("client").inc()
        return {}

    async def cmd_presence(self, params: dict[str, Any], cid: int) -> dict[str, Any]:
        channel = self._channel(params)
        opts = await self._readable(channel)
        if not opts.presence:
            raise ReplyError(errors.ERROR_NOT_AVAILABLE)
        entries = await self.engine.broker.presence(channel)
        presence = {}
        for client_id, raw in entries.items():
            try:
                info = _decode(raw)
            except msgspec.DecodeError:
                continue
            item: dict[str, Any] = {"user": info.get("user", ""), "client": client_id}
            if "conn_info" in info:
                item["conn_info"] = msgspec.Raw(_encode(info["conn_info"]))
            presence[client_id] = item
        return {"presence": presence}

    async def cmd_presence_stats(self, params: dict[str, Any], cid: int) -> dict[str, Any]:
        channel = self._channel(params)
        opts = await self._readable(channel)
        if not opts.presence:
            raise ReplyError(errors.ERROR_NOT_AVAILABLE)
        entries = await self.engine.broker.presence(channel)
        users = set()
        for raw in entries.values():
            try:
                users.add(_decode(raw).get("user", ""))
            except msgspec.DecodeError:
                continue
        return {"num_clients": len(entries), "num_users": len(users)}

    async def cmd_history(self, params: dict[str, Any], cid: int) -> dict[str, Any]:
        channel = self._channel(params)
        limit = _int(params, "limit")
        reverse = _bool(params, "reverse")
        since = params.get("since")
        if since is not None and not isinstance(since, dict):
            raise BadRequest("since must be an object")
        opts = await self._readable(channel)
        if not opts.recoverable or not opts.allow_history:
            raise ReplyError(errors.ERROR_NOT_AVAILABLE)
        cap = min(self.engine.config.max_history_limit, opts.history_size)
        limit = cap if limit < 0 else min(limit, cap)
        since_offset = None
        since_epoch = ""
        if since is not None:
            since_offset = _int(since, "offset")
            since_epoch = _str(since, "epoch")
        state = await self.engine.broker.history(
            channel, since=since_offset, limit=limit, reverse=reverse
        )
        if since is not None and since_epoch and since_epoch != state.epoch:
            raise ReplyError(errors.ERROR_UNRECOVERABLE_POSITION)
        result: dict[str, Any] = {"epoch": state.epoch, "offset": state.offset}
        if state.publications:
            result["publications"] = [publication(p) for p in state.publications]
        return result

    async def cmd_rpc(self, params: dict[str, Any], cid: int) -> dict[str, Any]:
        method = _str(params, "method")
        handler = getattr(self.engine.policy, "rpc", None)
        if handler is None:
            raise ReplyError(errors.ERROR_METHOD_NOT_FOUND)
        try:
            data = self.codec.data_value(params.get("data"))
        except ValueError:
            raise ReplyError(errors.ERROR_BAD_REQUEST) from None
        result = await handler(self.creds, method, data)
        return {"data": msgspec.Raw(_encode(result))}

    async def cmd_ping(self, params: dict[str, Any], cid: int) -> dict[str, Any]:
        return {}
