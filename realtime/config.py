"""Engine limits and per-namespace channel options."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NamespaceOptions:
    """What a namespace offers; the hub's ChannelPolicy returns one per channel.

    history_size > 0 makes the channel *recoverable*: publications are kept in a Redis stream
    capped at `history_size` entries for `history_ttl_seconds` after the last publication, and
    subscribers get offsets/epoch and recovery. `allow_publish` lets clients publish (subject to
    `ChannelPolicy.can_publish` and `on_publish`); `presence` enables presence and
    presence_stats; `join_leave` additionally pushes join/leave events to subscribers that ask
    for them (`join_leave: true` in subscribe, as the SDKs do with `joinLeave`).
    """

    history_size: int = 0
    history_ttl_seconds: int = 0
    presence: bool = False
    join_leave: bool = False
    allow_anonymous: bool = True
    allow_publish: bool = False
    allow_history: bool = True
    #: "stream": recovery returns exactly the missed publications (or recovered=false).
    #: "cache": every subscribe returns the channel's latest publication first, as its current
    #: state (Centrifugo's cache recovery mode): for channels whose publications are
    #: snapshots or refresh triggers, where the latest one is all a client needs.
    recovery_mode: str = "stream"
    #: Subscribers may negotiate `delta: "fossil"`: publications after the first go out as
    #: fossil deltas against the previous one (for channels republishing large snapshots).
    allow_delta: bool = False

    @property
    def recoverable(self) -> bool:
        return self.history_size > 0 and self.history_ttl_seconds > 0


@dataclass(slots=True)
class EngineConfig:
    """Limits and timings of one engine (one hub process). Defaults suit production."""

    #: Redis key prefix; all keys of channel `c` are `<prefix>:{c}:...` (one cluster slot).
    prefix: str = "hub"
    #: The Redis URL names a node of a Redis Cluster (7+): scripts run on each channel's slot
    #: and fan-out uses sharded pub/sub (SSUBSCRIBE on the shard that owns the channel).
    redis_cluster: bool = False
    #: On a cluster, how often the slot map is read again when nothing suggested a change.
    cluster_refresh_interval: float = 5.0
    #: Largest websocket frame accepted from a client; larger -> close 1009.
    max_frame_bytes: int = 64 * 1024
    #: Token bucket per connection: sustained commands/second and burst size (-> error 111).
    commands_per_second: float = 30.0
    command_burst: int = 60
    #: Channels one connection may be subscribed to (-> error 106).
    max_channels_per_connection: int = 128
    #: Concurrent connections per authenticated user across all processes (-> close 3504).
    #: 0 disables the limit.
    max_connections_per_user: int = 64
    #: Per-connection send queue bound; overflow closes the connection with 3008 "slow".
    send_queue_max_bytes: int = 2 * 1024 * 1024
    send_queue_max_messages: int = 20_000
    #: Write frames straight to the server's transport when it is uvicorn's websockets-sansio
    #: protocol (one shared, pre-built frame per publication, one write per connection per
    #: event-loop iteration); otherwise, or when False, every frame goes through ASGI send.
    direct_writes: bool = True
    #: A close frame that cannot be written within this time (peer not reading) -> abort.
    close_timeout: float = 10.0
    #: Coalesced frames (ASGI path) are cut at this size.
    write_batch_max_bytes: int = 512 * 1024
    #: Server ping period (seconds) and how long a pong may take (-> close 3012).
    ping_interval: float = 25.0
    pong_timeout: float = 10.0
    #: How long after its token expired an unrefreshed connection stays (-> close 3005).
    token_expiry_grace: float = 25.0
    #: A websocket that sends no connect command within this time is closed with 3502.
    connect_timeout: float = 10.0
    #: Presence entries (and per-user connection counts) expire unless refreshed.
    presence_ttl: float = 60.0
    presence_refresh_interval: float = 20.0
    #: Epoch/offset metadata outlives the stream so offsets keep counting up.
    history_meta_ttl_seconds: int = 30 * 24 * 3600
    #: Cap on publications in one history reply.
    max_history_limit: int = 1000
    #: Cap on publications one subscribe may recover; a longer gap answers `recovered: false`
    #: (the SDK tells the app to reload). Recovery replies are one frame, so keep
    #: cap x publication size well under `send_queue_max_bytes`.
    max_recovery_limit: int = 5000
    max_channel_length: int = 255
    #: A POST /emulation forwarded to another process waits this long for it to be handled.
    emulation_timeout: float = 5.0
    #: Every process reports its counts to Redis this often (server API `nodes()`).
    node_info_interval: float = 5.0
    #: Housekeeping tick: pings, pong timeouts, token expiry, presence refresh.
    tick_interval: float = 1.0
    #: On SIGTERM/SIGINT, close every connection with 3001 "shutdown" before the server's
    #: own shutdown (uvicorn's websocket close is 1012); the previous handlers still run.
    drain_on_signals: bool = True
    #: Version string reported in connect replies.
    version: str = "betterprompt-hub"
