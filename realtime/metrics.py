"""Prometheus metrics (default registry; the hub exposes them on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONNECTIONS = Gauge("realtime_connections", "Open connections on this process (all transports)")
CONNECTS = Counter("realtime_connects_total", "Connections opened", ["transport"])
SUBSCRIPTIONS = Gauge("realtime_subscriptions", "Channel subscriptions on this process")
CHANNELS = Gauge("realtime_channels", "Channels with at least one local subscriber")
COMMANDS = Counter("realtime_commands_total", "Client commands handled", ["method", "result"])
PUBLICATIONS = Counter(
    "realtime_publications_total", "Publications made through this process", ["source"]
)
PUBLICATIONS_RECEIVED = Counter(
    "realtime_publications_received_total", "Publications received from Redis for fan-out"
)
DELIVERIES = Counter("realtime_deliveries_total", "Pushes queued to subscribers")
DISCONNECTS = Counter("realtime_disconnects_total", "Server-initiated closes", ["code"])
SLOW_DISCONNECTS = Counter(
    "realtime_slow_disconnects_total", "Connections closed because their send queue overflowed"
)
RECOVERIES = Counter("realtime_recoveries_total", "Subscribe-with-recover outcomes", ["outcome"])
INSUFFICIENT_STATE = Counter(
    "realtime_insufficient_state_total", "Subscriptions reset after a detected stream gap"
)
DELTA_PUSHES = Counter(
    "realtime_delta_pushes_total",
    "Publications sent to fossil-delta subscribers, as a delta or in full",
    ["encoding"],
)
