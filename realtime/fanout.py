"""Direct-write fan-out: the frame batching that writes straight to the server's transports.

With direct writes (`EngineConfig.direct_writes`, uvicorn's websockets-sansio protocol) frames
skip ASGI `send` and go to each connection's asyncio transport, once per loop iteration
(one Redis read): everything queued for a connection leaves in one write. `DirectWrites`,
one per engine (`Engine.fanout`), owns that batching:

- shared frames: the publications of one channel arriving in one loop iteration become one
  `Group`, its frame built once and written to every member (`share`, called by the hub's
  fan-out);
- per-connection queues: a client whose own send queue goes from empty to non-empty reports
  it (`queue_started`, `queue_emptied`), and asks to be flushed (`mark_dirty`);
- the flush itself (`flush`, scheduled with `call_soon`): groups first, then each dirty
  client's queue (`Client.flush_direct`).

Order per connection: a client joins a group only while its own queue is empty, so nothing
queued for it can precede the group's frame; a client with something queued takes the
publication through its queue instead. `seq` (bumped whenever any client's queue goes from
empty to non-empty) and `ChannelEntry.version` (bumped whenever a channel's live set changes)
tell whether a pending group may still grow: while neither moved, its members are still
exactly the live clients with empty queues.

The per-member loop of `_flush_group` is the hottest code of the engine (one iteration per
subscriber and loop iteration): it reads the client's public direct-write attributes
(`Client.state`, `slow`, `blocked`, `writable.value`, `direct_transport`, `direct_write`)
without method calls.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from realtime.protocol.codec import ws_frame
from realtime.states import ClientState

if TYPE_CHECKING:
    from realtime.client import Client
    from realtime.config import EngineConfig
    from realtime.hub import ChannelEntry


def frames(protobuf: int, items: list[bytes], limit: int) -> bytes:
    """Queued payloads as websocket frames: as few as possible, each at most `limit` bytes
    (JSON lines joined with newlines, Protobuf messages concatenated - both are how the
    protocol packs several messages in a frame)."""
    if protobuf:
        opcode, sep = 2, b""
    else:
        opcode, sep = 1, b"\n"
    if len(items) == 1:
        return ws_frame(opcode, items[0])
    total = sum(len(i) for i in items)
    if total <= limit:
        return ws_frame(opcode, sep.join(items))
    out = []
    batch: list[bytes] = []
    size = 0
    for item in items:
        if batch and size + len(item) > limit:
            out.append(ws_frame(opcode, sep.join(batch)))
            batch = []
            size = 0
        batch.append(item)
        size += len(item) + 1
    out.append(ws_frame(opcode, sep.join(batch)))
    return b"".join(out)


class Group:
    """Publications of one channel waiting for this loop iteration's flush, written to every
    member as one shared frame (direct-write clients only, see `DirectWrites.share`).

    Members are the live clients whose own send queue was empty when the group started: for
    them nothing else is pending, so the group's frame goes out first and anything queued for
    them later follows it - the order in which it was queued. Clients with a non-empty queue
    get the publications through their queue instead.
    """

    __slots__ = ("entry", "slot", "items", "size", "members", "version", "seq")

    def __init__(
        self, entry: ChannelEntry, slot: int, item: bytes, members: list[Client], seq: int
    ) -> None:
        self.entry = entry
        self.slot = slot
        self.items = [item]
        self.size = len(item)
        self.members = members
        self.version = entry.version
        self.seq = seq


class DirectWrites:
    """The engine's direct-write batching: pending shared frames, the clients with queued
    frames, and the once-per-loop-iteration flush that writes both."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        #: Pending groups, in arrival order.
        self.groups: list[Group] = []
        #: Bumped whenever a client's send queue goes from empty to non-empty.
        self.seq = 0
        #: The clients whose queue may be non-empty (a superset: stale members are harmless).
        self.queued: set[Client] = set()
        #: Direct-write clients with queued frames, flushed once per loop iteration.
        self.dirty: list[Client] = []
        self.scheduled = False

    # --- per-connection queues (called by Client) ----------------------------------------

    def queue_started(self, client: Client) -> None:
        """`client`'s send queue went from empty to non-empty: it may not join new groups."""
        self.seq += 1
        self.queued.add(client)

    def queue_emptied(self, client: Client) -> None:
        self.queued.discard(client)

    def mark_dirty(self, client: Client) -> None:
        """Flush `client`'s queue in this loop iteration's flush, so the publications of one
        Redis read leave in one write per connection."""
        self.dirty.append(client)
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    # --- shared frames (called by Hub) ---------------------------------------------------

    def share(self, entry: ChannelEntry, slot: int, clients: set[Client], item: bytes) -> None:
        """Queue one publication for the direct-write clients of `entry` (encoding `slot`: 0
        JSON, 1 Protobuf) as part of a shared frame.

        The publications of one channel that arrive in one loop iteration join one Group while
        neither the live set nor any client's queue changed; the flush writes the group's frame
        to each member before it flushes the per-client queues.
        """
        group = entry.groups[slot]
        if group is not None and group.version == entry.version and group.seq == self.seq:
            group.items.append(item)
            group.size += len(item)
            if self.queued:
                for client in clients:
                    if client.queue:  # not a member: its queue holds earlier items
                        client.push(item)
            return
        if self.queued:
            members: list[Client] = []
            append = members.append
            for client in clients:
                if client.queue:
                    client.push(item)
                else:
                    append(client)
            if not members:
                return
        else:  # no client has anything queued: all are members
            members = list(clients)
        group = Group(entry, slot, item, members, self.seq)
        entry.groups[slot] = group
        self.groups.append(group)
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    # --- the flush -----------------------------------------------------------------------

    def flush(self) -> None:
        """Write the pending shared frames, then every dirty client's queue."""
        if self.groups:
            groups = self.groups
            self.groups = []
            for group in groups:
                self._flush_group(group)
        self.scheduled = False
        dirty = self.dirty
        self.dirty = []
        for client in dirty:
            try:
                client.flush_direct()
            except Exception:  # noqa: BLE001 - a broken transport closes just that client
                client.close(None)

    def _flush_group(self, group: Group) -> None:
        """Write one shared frame (a group's publications) to each of its members."""
        entry = group.entry
        if entry.groups[group.slot] is group:
            entry.groups[group.slot] = None
        items = group.items
        frame = frames(group.slot, items, self.config.write_batch_max_bytes)
        closed = ClientState.CLOSED
        for client in group.members:
            # The hot loop (one iteration per subscriber): touch as few objects as possible.
            if client.state == closed or client.slow:
                continue
            if client.blocked is not None or not client.writable.value:
                client.requeue_front(items, group.size)  # the peer is not reading: queue them
                continue
            if client.direct_transport.is_closing() or client.direct.close_sent:
                continue
            try:
                client.direct_write(frame)
            except Exception:  # noqa: BLE001 - a broken transport closes just that client
                client.close(None)
