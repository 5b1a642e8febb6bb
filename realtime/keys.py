"""Redis key and pub/sub channel names.

Every key of one channel shares the hash tag `{<channel>}` so that the atomic scripts touch a
single Redis Cluster slot, and the per-channel pub/sub channel carries the same tag so that it
can become a sharded channel (SPUBLISH/SSUBSCRIBE) on Redis 7+.
"""

from __future__ import annotations


class Keys:
    __slots__ = ("prefix", "control", "nodes")

    def __init__(self, prefix: str = "hub") -> None:
        self.prefix = prefix
        self.control = f"{prefix}:control".encode()
        #: One hash: node id -> its latest report (counts), for the server API `nodes()`.
        self.nodes = f"{prefix}:nodes"

    def meta(self, channel: str) -> str:
        return f"{self.prefix}:{{{channel}}}:meta"

    def stream(self, channel: str) -> str:
        return f"{self.prefix}:{{{channel}}}:stream"

    def presence(self, channel: str) -> str:
        return f"{self.prefix}:{{{channel}}}:presence"

    def presence_expiry(self, channel: str) -> str:
        return f"{self.prefix}:{{{channel}}}:presence_exp"

    def idempotency(self, channel: str, key: str) -> str:
        return f"{self.prefix}:{{{channel}}}:idem:{key}"

    def pubsub(self, channel: str) -> bytes:
        return f"{self.prefix}:{{{channel}}}:pub".encode()

    def channel_of(self, pubsub_channel: bytes) -> str:
        return pubsub_channel.decode()[len(self.prefix) + 2 : -5]

    def node(self, node_id: str) -> bytes:
        """A hub process's own pub/sub channel (emulation commands routed to it)."""
        return f"{self.prefix}:node:{node_id}".encode()

    def user_connections(self, user_id: str) -> str:
        return f"{self.prefix}:user:{{{user_id}}}:conns"
