"""The hub (centrifuge's `Hub`): this process's registry of channels -> local subscribers,
and the fan-out hot path.

A channel entry exists while at least one local client is subscribed (or subscribing); creating
it subscribes the Redis pub/sub channel, deleting it unsubscribes. Each publication from Redis
is parsed once, encoded once per encoding (JSON line, Protobuf message), and the same object is
queued to every live subscriber. For clients whose frames are written straight to the server's
transport, the publications of one channel that arrive in one loop iteration become one
websocket frame, built once and written to every subscriber with nothing else queued (handed
to the engine's `realtime.fanout.DirectWrites`); the rest get them through their own send
queue, so per-connection order holds.

Ordering and gap-freedom: a subscription starts in *catch-up*: publications arriving while its
history is read are buffered, then merged with the history by offset. It turns *live* once
its position matches the channel's last seen offset. Live subscribers are checked as a group:
a publication whose offset is not last+1 (or whose epoch changed) means the stream skipped
(pub/sub reconnect, Redis flush), and they get an `unsubscribe` push with code 2500
"insufficient state", on which the SDKs resubscribe and recover.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

import msgspec

from realtime import fossil, metrics
from realtime.config import NamespaceOptions
from realtime.protocol import codec as wire
from realtime.states import SubState

if TYPE_CHECKING:
    from realtime.client import Client
    from realtime.fanout import DirectWrites, Group
    from realtime.pubsub import ClusterPubSub, PubSubConnection

log = logging.getLogger("realtime.hub")

SUBSCRIBING, CATCHUP, LIVE = SubState.SUBSCRIBING, SubState.CATCHUP, SubState.LIVE


class Sub:
    """One client's subscription to one channel."""

    __slots__ = (
        "channel",
        "opts",
        "entry",
        "state",
        "epoch",
        "offset",
        "buffer",
        "join_leave",
        "server_side",
        "delta",
        "base_offset",
    )

    def __init__(
        self, channel: str, opts: NamespaceOptions, join_leave: bool, server_side: bool = False
    ) -> None:
        self.channel = channel
        self.opts = opts
        self.entry: ChannelEntry | None = None
        self.state: SubState = SUBSCRIBING
        self.epoch = ""
        self.offset = 0
        self.buffer: list[tuple[int, str, bytes, bytes | None]] | None = []
        self.join_leave = join_leave
        #: Subscribed by the server on connect (ChannelPolicy.server_subscriptions).
        self.server_side = server_side
        #: Fossil delta negotiated; the offset of the publication the client holds as the
        #: base of the next delta (0: none yet, the next one goes in full).
        self.delta = False
        self.base_offset = 0


class ChannelEntry:
    __slots__ = (
        "name",
        "rchannel",
        "json_prefix",
        "pb_field",
        "live",
        "catchup",
        "join_leave",
        "epoch",
        "last_offset",
        "ready",
        "version",
        "groups",
        "delta",
        "prev_epoch",
        "prev_offset",
        "prev_data",
        "patch_offset",
        "patch",
    )

    def __init__(self, name: str, rchannel: bytes) -> None:
        self.name = name
        self.rchannel = rchannel
        self.json_prefix = wire.json_channel_prefix(name)
        self.pb_field = wire.pb_channel_field(name)
        # live subscribers by Client.kind: json, protobuf, json frames, protobuf frames
        self.live: tuple[set[Client], ...] = (set(), set(), set(), set())
        self.catchup: dict[Client, Sub] = {}
        self.join_leave: set[Client] = set()
        self.epoch = ""
        self.last_offset: int | None = None
        self.ready: Any = None  # future of the Redis SUBSCRIBE confirmation
        #: Bumped whenever `live` changes (a pending Group may only grow while it is unchanged).
        self.version = 0
        #: This loop iteration's pending shared frame for direct JSON / direct Protobuf clients.
        self.groups: list[Group | None] = [None, None]
        #: Live subscribers that negotiated fossil delta (kept out of `live`: they take other
        #: encodings), and the last publication, the base of the next delta.
        self.delta: dict[Client, Sub] = {}
        self.prev_epoch = ""
        self.prev_offset = 0
        self.prev_data = b""
        #: The delta from prev to the publication at patch_offset (None: send it in full).
        self.patch_offset = 0
        self.patch: bytes | None = None

    def empty(self) -> bool:
        live = self.live
        return not (live[0] or live[1] or live[2] or live[3] or self.catchup or self.delta)

    def live_clients(self) -> list[Client]:
        return [c for clients in self.live for c in clients] + list(self.delta)


_decode_json = msgspec.json.decode


def _json_push(entry: ChannelEntry, data: bytes, offset: int, info: bytes | None) -> str:
    if info is None:
        return wire.pub_push_json(entry.json_prefix, data.decode(), offset)
    return wire.pub_push_json_info(entry.json_prefix, data.decode(), offset, info.decode())


def _patch_for(entry: ChannelEntry, epoch: str, offset: int, data: bytes) -> bytes | None:
    """The fossil delta turning the channel's previous publication into this one (computed
    once per publication), or None when there is no base or a delta would not be smaller."""
    if entry.patch_offset == offset and entry.prev_epoch == epoch:
        return entry.patch
    patch = None
    if entry.prev_offset and entry.prev_offset == offset - 1 and entry.prev_epoch == epoch:
        candidate = fossil.create(entry.prev_data, data)
        if len(candidate) < len(data):
            patch = candidate
    entry.patch_offset, entry.patch = offset, patch
    return patch


def _delta_push(
    entry: ChannelEntry, kind: int, payload: bytes, offset: int, info: bytes | None, delta: bool
) -> Any:
    """A publication for a fossil-delta subscriber: JSON carries the data (full JSON text or
    the delta) as a JSON string, Protobuf as bytes; `delta` tells the SDK which it is."""
    info_pb = wire.client_info_protobuf(info) if info is not None else None
    if kind & 1:
        return wire.pub_push_protobuf(entry.pb_field, payload, offset, info_pb, delta)
    js = wire.pub_push_json_delta(entry.json_prefix, payload, offset, info, delta)
    return js if kind == 0 else js.encode()


def _pb_push(entry: ChannelEntry, data: bytes, offset: int, info: bytes | None) -> bytes:
    if info is None:
        return wire.pub_push_protobuf(entry.pb_field, data, offset)
    return wire.pub_push_protobuf(entry.pb_field, data, offset, wire.client_info_protobuf(info))


class Hub:
    """The channels this process subscribes in Redis and their local subscribers; turns each
    pub/sub message into deliveries (see the module docstring)."""

    def __init__(self, keys: Any, fanout: DirectWrites | None = None) -> None:
        self.keys = keys
        #: The engine's direct-write batching (None: direct writes are off, every client
        #: takes publications through its own send queue).
        self.fanout = fanout
        self.entries: dict[bytes, ChannelEntry] = {}
        #: Where channels are subscribed: one connection, or a cluster's shard router.
        self.pubsub: PubSubConnection | ClusterPubSub | None = None
        self.control_handler: Any = None
        #: This process's own pub/sub channel (commands of emulated connections living here).
        self.node_channel: bytes = b""
        self.node_handler: Any = None

    # --- membership --------------------------------------------------------------------

    async def add(self, client: Client, sub: Sub) -> ChannelEntry:
        """Register `sub` in catch-up and wait until Redis confirms the channel subscription."""
        rchannel = self.keys.pubsub(sub.channel)
        entry = self.entries.get(rchannel)
        if entry is None:
            if self.pubsub is None or not self.pubsub.connected:
                raise ConnectionError("redis pubsub not connected")
            entry = ChannelEntry(sub.channel, rchannel)
            self.entries[rchannel] = entry
            entry.ready = self.pubsub.subscribe_nowait(rchannel)
            metrics.CHANNELS.set(len(self.entries))
        sub.entry = entry
        entry.catchup[client] = sub
        if sub.join_leave:
            entry.join_leave.add(client)
        await entry.ready
        return entry

    def remove(self, client: Client, sub: Sub) -> None:
        entry = sub.entry
        if entry is None:
            return
        sub.entry = None
        entry.catchup.pop(client, None)
        live = entry.live[client.kind]
        if client in live:
            live.discard(client)
            entry.version += 1
        entry.delta.pop(client, None)
        entry.join_leave.discard(client)
        if entry.empty() and self.entries.get(entry.rchannel) is entry:
            del self.entries[entry.rchannel]
            if self.pubsub is not None:
                self.pubsub.unsubscribe(entry.rchannel)
            metrics.CHANNELS.set(len(self.entries))

    def ready(self, client: Client, sub: Sub, epoch: str, offset: int) -> None:
        """The subscribe reply (position epoch/offset) is queued: flush the buffer, go live."""
        sub.epoch = epoch
        sub.offset = offset
        buffered = sub.buffer or ()
        sub.buffer = None
        sub.state = CATCHUP
        entry = sub.entry
        for off, ep, data, info in buffered:
            if not self._advance(client, sub, off, ep, data, info):
                return
        if entry is not None and entry.last_offset == sub.offset and entry.epoch == sub.epoch:
            self._promote(client, sub)

    def _promote(self, client: Client, sub: Sub) -> None:
        entry = sub.entry
        if entry is None:
            return
        entry.catchup.pop(client, None)
        if sub.delta:
            entry.delta[client] = sub
        else:
            entry.live[client.kind].add(client)
            entry.version += 1
        sub.state = LIVE

    def _advance(
        self,
        client: Client,
        sub: Sub,
        offset: int,
        epoch: str,
        data: bytes,
        info: bytes | None = None,
    ) -> bool:
        """Deliver one publication to a catch-up sub if it is the next one. False: sub dropped."""
        if epoch != sub.epoch or offset > sub.offset + 1:
            client.insufficient_state(sub)
            return False
        if offset == sub.offset + 1:
            entry = sub.entry
            assert entry is not None
            kind = client.kind
            if sub.delta:
                patch = (
                    _patch_for(entry, epoch, offset, data)
                    if sub.base_offset == offset - 1
                    else None
                )
                payload = data if patch is None else patch
                client.push(_delta_push(entry, kind, payload, offset, info, patch is not None))
                metrics.DELTA_PUSHES.labels("full" if patch is None else "delta").inc()
                sub.base_offset = offset
                if offset > entry.prev_offset or epoch != entry.prev_epoch:
                    entry.prev_epoch, entry.prev_offset, entry.prev_data = epoch, offset, data
            elif kind & 1:
                client.push(_pb_push(entry, data, offset, info))
            else:
                js = _json_push(entry, data, offset, info)
                client.push(js if kind == 0 else js.encode())
            sub.offset = offset
            metrics.DELIVERIES.inc()
        return True

    # --- fan-out -----------------------------------------------------------------------

    def on_message(self, rchannel: bytes, payload: bytes) -> None:
        entry = self.entries.get(rchannel)
        if entry is None:
            if rchannel == self.keys.control and self.control_handler is not None:
                self.control_handler(payload)
            elif rchannel == self.node_channel and self.node_handler is not None:
                self.node_handler(payload)
            return
        kind = payload[:1]
        if kind == b"p":
            i = payload.index(b":", 1)
            j = payload.index(b":", i + 1)
            self.on_publication(
                entry, int(payload[1:i]), payload[i + 1 : j].decode(), payload[j + 1 :]
            )
        elif kind == b"q":  # a client's publication: q<offset>:<epoch>:<n>:<info (n bytes)><data>
            i = payload.index(b":", 1)
            j = payload.index(b":", i + 1)
            k = payload.index(b":", j + 1)
            end = k + 1 + int(payload[j + 1 : k])
            self.on_publication(
                entry,
                int(payload[1:i]),
                payload[i + 1 : j].decode(),
                payload[end:],
                payload[k + 1 : end],
            )
        elif kind == b"j" or kind == b"l":
            self.on_join_leave(entry, "join" if kind == b"j" else "leave", payload[1:])

    def on_publication(
        self,
        entry: ChannelEntry,
        offset: int,
        epoch: str,
        data: bytes,
        info: bytes | None = None,
    ) -> None:
        metrics.PUBLICATIONS_RECEIVED.inc()
        last = entry.last_offset
        live = entry.live
        if live[0] or live[1] or live[2] or live[3] or entry.delta:
            if last is not None and (epoch != entry.epoch or offset != last + 1):
                if epoch == entry.epoch and offset <= last:
                    return  # a stale duplicate: already delivered
                for client in entry.live_clients():
                    sub = client.subs.get(entry.name)
                    if sub is not None:
                        client.insufficient_state(sub)
            else:
                # One encoding per kind, shared by every subscriber of that kind.
                n = 0
                js = pb = None
                item: str | bytes
                for kind in (0, 1, 2, 3):
                    clients = live[kind]
                    if not clients:
                        continue
                    if kind & 1:
                        if pb is None:
                            pb = _pb_push(entry, data, offset, info)
                        item = pb
                    else:
                        if js is None:
                            js = _json_push(entry, data, offset, info)
                        item = js if kind == 0 else js.encode()
                    if kind & 2 and self.fanout is not None:
                        # Direct-write kinds (2, 3) always carry bytes: JSON is encoded above.
                        self.fanout.share(entry, kind & 1, clients, cast(bytes, item))
                    else:
                        for client in clients:
                            client.push(item)
                    n += len(clients)
                if entry.delta:
                    n += self._fanout_delta(entry, epoch, offset, data, info)
                metrics.DELIVERIES.inc(n)
        entry.epoch = epoch
        entry.last_offset = offset
        if entry.catchup:
            for client, sub in list(entry.catchup.items()):
                if sub.state == SUBSCRIBING:
                    if sub.buffer is not None:
                        sub.buffer.append((offset, epoch, data, info))
                elif self._advance(client, sub, offset, epoch, data, info) and sub.offset == offset:
                    self._promote(client, sub)

    def _fanout_delta(
        self, entry: ChannelEntry, epoch: str, offset: int, data: bytes, info: bytes | None
    ) -> int:
        """Fossil-delta subscribers: a delta against the previous publication for those that
        hold it, the full publication (in delta encoding) for the others; each encoding is
        built once. These channels carry snapshots at modest rates, so their subscribers go
        through their own send queues rather than shared frames."""
        patch = _patch_for(entry, epoch, offset, data)
        items: dict[tuple[int, bool], Any] = {}
        deltas = 0
        for client, sub in entry.delta.items():
            use_delta = patch is not None and sub.base_offset == offset - 1
            deltas += use_delta
            key = (client.kind, use_delta)
            item = items.get(key)
            if item is None:
                payload = patch if use_delta and patch is not None else data
                item = items[key] = _delta_push(
                    entry, client.kind, payload, offset, info, use_delta
                )
            client.push(item)
            sub.base_offset = offset
        entry.prev_epoch, entry.prev_offset, entry.prev_data = epoch, offset, data
        metrics.DELTA_PUSHES.labels("delta").inc(deltas)
        metrics.DELTA_PUSHES.labels("full").inc(len(entry.delta) - deltas)
        return len(entry.delta)

    def on_join_leave(self, entry: ChannelEntry, kind: str, info: bytes) -> None:
        if not entry.join_leave:
            return
        try:
            body = {"info": _decode_json(info)}
        except msgspec.DecodeError:
            return
        js = pb = None
        for client in entry.join_leave:
            sub = client.subs.get(entry.name)
            if sub is None or sub.state != LIVE and sub.state != CATCHUP:
                continue
            if client.is_pb:
                if pb is None:
                    info_pb = dict(body["info"])
                    if "conn_info" in info_pb:
                        info_pb["conn_info"] = msgspec.json.encode(info_pb["conn_info"])
                    pb = wire.ProtobufCodec.push(entry.name, kind, {"info": info_pb})
                client.send(pb)
            else:
                if js is None:
                    js = wire.JsonCodec.push(entry.name, kind, body)
                client.send(js)

    def reset(self) -> None:
        """The pub/sub connection was lost: every local subscription may have missed messages."""
        self.reset_channels(list(self.entries))

    def reset_channels(self, rchannels: list[bytes]) -> None:
        """These channels' pub/sub subscriptions were lost (a connection, or on a cluster one
        shard's): their subscribers may have missed messages. Those already answered get
        2500 (the SDK resubscribes and recovers); those still subscribing fail (error 100,
        the SDK retries) instead of going live on a channel nobody listens to any more."""
        entries = [e for e in (self.entries.pop(ch, None) for ch in rchannels) if e is not None]
        metrics.CHANNELS.set(len(self.entries))
        for entry in entries:
            clients = entry.live_clients() + list(entry.catchup)
            for client in clients:
                sub = client.subs.get(entry.name)
                if sub is None or sub.entry is not entry:
                    continue
                if sub.state != SUBSCRIBING:
                    client.insufficient_state(sub)
                else:
                    sub.entry = None
