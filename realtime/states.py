"""The states of a connection and of a subscription, named.

They live apart from `client` and `hub` because the fan-out (realtime.fanout), the gateway and
the engine's housekeeping test them too. IntEnums: compared as fast as ints on the hot path,
readable in logs and debuggers.
"""

from __future__ import annotations

from enum import IntEnum


class ClientState(IntEnum):
    """A connection's lifecycle: commands other than `connect` are refused until CONNECTED;
    CLOSED is final (nothing is queued or written any more)."""

    CONNECTING = 0
    CONNECTED = 1
    CLOSED = 2


class SubState(IntEnum):
    """A subscription's way to live delivery (see realtime.hub: ordering and gap-freedom)."""

    #: Registered, its history not read yet: publications arriving meanwhile are buffered.
    SUBSCRIBING = 0
    #: The subscribe reply is queued; waiting for the channel stream to reach its position.
    CATCHUP = 1
    #: Delivered with every other live subscriber of the channel.
    LIVE = 2
