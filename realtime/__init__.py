"""realtime: a Centrifuge-protocol (v2) websocket engine on Redis.

The official Centrifuge SDKs (centrifuge-js, -python, -swift, -java, -dart) connect to it
unchanged, over JSON or Protobuf (`centrifuge-protobuf` subprotocol). It imports nothing from
the hub: the hub plugs in an `Authenticator` and a `ChannelPolicy`.

Mounting it in a Litestar app::

    from realtime import Engine, EngineConfig, SimplePolicy, websocket_route

    engine = Engine(redis_url, policy, authenticator, EngineConfig())
    app = Litestar(
        route_handlers=[websocket_route(engine, "/connection/websocket"),
                        *http_routes(engine), ...],   # http_stream, sse, /emulation
        lifespan=[engine.lifespan],          # or call engine.start()/stop() in your lifespan
    )
    # or, leaner per connection: serve the endpoints in front of the app (in asgi.py)
    app = RealtimeASGI(app, engine, "/connection/websocket")

Run uvicorn with `ws_per_message_deflate=False`, and call `gc.collect(); gc.freeze()` once
the app has started.

Server API (the hub's processes)::

    result = await engine.publish("runs:42", {"type": "run.delta", "seq": 3, "text": "hi"})
    result.offset, result.epoch
    await engine.disconnect_user(user_id)    # every process, via Redis pub/sub control channel
    await engine.unsubscribe(user_id, "rooms:x", 2100, "access revoked")   # live, everywhere
    await engine.history("rooms:x", limit=10); await engine.history_remove("rooms:x", where)
    await engine.presence("rooms:x"); await engine.nodes()

Workers without an Engine (arq) publish through the same atomic script::

    publisher = Publisher(redis_client, policy)          # or any channel -> NamespaceOptions
    await publisher.publish("notifications#7", {"type": "notification.created", ...})
    await publisher.disconnect_user("7")

See docs/realtime.md for the protocol, codes, limits and guarantees.
"""

from realtime.broker import Publisher, PublishResult
from realtime.config import EngineConfig, NamespaceOptions
from realtime.errors import (
    InvalidToken,
    PublishRejected,
    RealtimeError,
    TokenExpired,
    UnknownChannel,
)
from realtime.gateway import RealtimeASGI, http_routes, serve_websocket, websocket_route
from realtime.node import Engine
from realtime.policy import (
    ANONYMOUS,
    Authenticator,
    ChannelPolicy,
    Credentials,
    SimplePolicy,
    namespace_of,
    user_limit_of,
)

__all__ = [
    "ANONYMOUS",
    "Authenticator",
    "ChannelPolicy",
    "Credentials",
    "Engine",
    "EngineConfig",
    "InvalidToken",
    "NamespaceOptions",
    "PublishRejected",
    "PublishResult",
    "Publisher",
    "RealtimeASGI",
    "RealtimeError",
    "SimplePolicy",
    "TokenExpired",
    "UnknownChannel",
    "http_routes",
    "namespace_of",
    "serve_websocket",
    "user_limit_of",
    "websocket_route",
]
