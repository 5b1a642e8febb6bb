"""Bodies of the realtime server API for admins (msgspec); routes in hub.live.admin_api."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from realtime.errors import DISCONNECT_FORCE_NO_RECONNECT, UNSUBSCRIBE_SERVER

ChannelName = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


UserId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


Reason = Annotated[str, msgspec.Meta(max_length=100)]


class PublishIn(msgspec.Struct, forbid_unknown_fields=True):
    channel: ChannelName
    data: dict[str, Any]


class PublishOut(msgspec.Struct):
    offset: int
    epoch: str


class UnsubscribeIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: UserId
    channel: ChannelName
    #: 2000-2499: the SDK stays unsubscribed; 2500-2999: it resubscribes (and recovers).
    code: Annotated[int, msgspec.Meta(ge=2000, le=2999)] = UNSUBSCRIBE_SERVER.code
    reason: Reason = UNSUBSCRIBE_SERVER.reason


class DisconnectIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: UserId
    #: 3000-3499: SDKs reconnect; 3500-3999: they stop.
    code: Annotated[int, msgspec.Meta(ge=3000, le=3999)] = DISCONNECT_FORCE_NO_RECONNECT.code
    reason: Reason = DISCONNECT_FORCE_NO_RECONNECT.reason


class ChannelIn(msgspec.Struct, forbid_unknown_fields=True):
    channel: ChannelName


class ClientInfoOut(msgspec.Struct):
    client: str
    user: str
    conn_info: dict[str, Any] | None = None


class PresenceOut(msgspec.Struct):
    channel: str
    num_clients: int
    num_users: int
    clients: list[ClientInfoOut]


class PublicationOut(msgspec.Struct):
    offset: int
    data: Any
    info: ClientInfoOut | None = None


class HistoryOut(msgspec.Struct):
    channel: str
    epoch: str
    offset: int
    publications: list[PublicationOut]


class RemovedOut(msgspec.Struct):
    channel: str
    removed: int


class NodeOut(msgspec.Struct):
    id: str
    name: str
    connections: int
    users: int
    subscriptions: int
    channels: int
    uptime_seconds: int
    updated_at: float


class NodesOut(msgspec.Struct):
    nodes: list[NodeOut]
    #: Connections over all processes (channels are not summed: processes share them).
    connections: int
