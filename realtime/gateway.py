"""The realtime endpoints as Litestar routes (raw ASGI handlers) or in front of an app.

It is mounted as an `@asgi` route rather than a `@websocket` one: the hot send path calls the
server's ASGI `send` directly, without Litestar's WebSocket wrapper, and subprotocol
negotiation (`centrifuge-protobuf`) needs the raw scope anyway.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from litestar.handlers import asgi

from realtime.lean import LeanEvent, LeanQueue
from realtime.node import Engine
from realtime.states import ClientState

log = logging.getLogger("realtime.gateway")

PROTOBUF_SUBPROTOCOL = "centrifuge-protobuf"


async def serve_websocket(engine: Engine, scope: Any, receive: Any, send: Any) -> None:
    """Run one websocket connection to completion (usable from any ASGI app)."""
    if scope["type"] != "websocket":
        await send(
            {
                "type": "http.response.start",
                "status": 426,
                "headers": [(b"content-type", b"text/plain"), (b"upgrade", b"websocket")],
            }
        )
        await send({"type": "http.response.body", "body": b"websocket endpoint\n"})
        return
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    protobuf = PROTOBUF_SUBPROTOCOL in (scope.get("subprotocols") or ())
    await send(
        {"type": "websocket.accept", "subprotocol": PROTOBUF_SUBPROTOCOL if protobuf else None}
    )
    # uvicorn's protocol object (untyped internals), or None: then `queue` is None too.
    proto: Any = direct_protocol(send) if engine.config.direct_writes else None
    queue = _lighten(proto, scope) if proto is not None else None
    client = engine.connection(send, protobuf, proto)
    try:
        while True:
            if queue is None:
                message = await receive()
            else:  # uvicorn's `receive`, minus its coroutine frames while idle
                if queue.empty():
                    await queue.ready()
                message = queue.get_nowait()
                if proto.read_paused and queue.empty():  # uvicorn pauses reading per message
                    proto.read_paused = False
                    proto.transport.resume_reading()
            kind = message["type"]
            if kind == "websocket.receive":
                if client.state == ClientState.CLOSED:
                    continue
                data = message.get("bytes")
                if data is None:
                    data = message.get("text") or ""
                await client.handle_frame(data)
            elif kind == "websocket.disconnect":
                break
    except Exception:  # noqa: BLE001
        log.exception("websocket handler failed")
    finally:
        client.close(None)


def _lighten(proto: Any, scope: Any) -> LeanQueue:
    """Once the handshake is done, drop what uvicorn keeps per connection but a direct-write
    connection no longer needs, and swap its asyncio queue and event for lean ones
    (realtime.lean): an idle subscriber then costs about 6 KiB less (more with a browser's
    headers and cookies). What goes: the upgrade request and response uvicorn keeps (the
    headers live on only as far as the authenticator copied them), and uvicorn's own
    websocket pings (the engine pings every connection in the protocol and closes it with
    3012 when the pong is late)."""
    queue = LeanQueue()
    received = proto.queue
    while not received.empty():
        queue.put_nowait(received.get_nowait())
    proto.queue = queue
    proto.writable = LeanEvent(proto.writable.is_set())
    proto.stop_keepalive()
    request = getattr(proto, "request", None)
    if request is not None:
        # websockets' parser keeps the request for the connection's lifetime: its headers go.
        request.headers.clear()
    proto.request = proto.response = None
    # Every frame of the ASGI call chain holds this dict (uvicorn's protocol, its proxy
    # headers middleware, the app): trim it in place.
    for key in ("headers", "subprotocols", "state", "extensions"):
        scope.pop(key, None)
    return queue


def direct_protocol(send: Any) -> Any:
    """The server's websocket protocol object behind an ASGI `send`, if frames may be written
    to its transport directly: uvicorn's websockets-sansio protocol (its default), possibly
    wrapped by Litestar's exception middleware. None for any other server: then every frame
    goes through ASGI send, which is always correct, only slower."""
    fn = send
    for _ in range(4):
        owner = getattr(fn, "__self__", None)
        if owner is not None:
            if (
                type(owner).__name__ == "WebSocketsSansIOProtocol"
                and isinstance(getattr(owner, "writable", None), asyncio.Event)
                and hasattr(owner, "transport")
                and hasattr(owner, "close_sent")
                and hasattr(owner, "conn")
                and hasattr(owner, "queue")
            ):
                return owner
            return None
        nxt = None
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if callable(value) and (
                getattr(value, "__self__", None) is not None or getattr(value, "__closure__", None)
            ):
                nxt = value
                break
        if nxt is None:
            return None
        fn = nxt
    return None


def websocket_route(engine: Engine, path: str = "/connection/websocket") -> Any:
    """A Litestar route handler serving the Centrifuge protocol at `path`."""

    async def centrifuge_websocket(scope: Any, receive: Any, send: Any) -> None:
        await serve_websocket(engine, scope, receive, send)

    return asgi(path, copy_scope=False, name="realtime-websocket")(centrifuge_websocket)


#: The HTTP fallbacks (bidirectional emulation) and where they are served by default.
HTTP_PATHS = {
    "/connection/http_stream": "http_stream",
    "/connection/sse": "sse",
    "/emulation": "emulation",
}


def _http_handler(kind: str) -> Any:
    from realtime import http_transports

    return {
        "http_stream": http_transports.serve_http_stream,
        "sse": http_transports.serve_sse,
        "emulation": http_transports.serve_emulation,
    }[kind]


def http_routes(engine: Engine, paths: dict[str, str] | None = None) -> list[Any]:
    """Litestar route handlers for the HTTP-streaming, SSE and emulation endpoints."""
    handlers = []
    for path, kind in (paths or HTTP_PATHS).items():
        serve = _http_handler(kind)

        def make(serve: Any = serve) -> Any:
            async def endpoint(scope: Any, receive: Any, send: Any) -> None:
                await serve(engine, scope, receive, send)

            return endpoint

        handlers.append(
            asgi(path, copy_scope=False, name=f"realtime-{kind}", include_in_schema=False)(make())
        )
    return handlers


class RealtimeASGI:
    """Serve the realtime endpoints in front of another ASGI app (e.g. the Litestar app).

    Equivalent to mounting `websocket_route` and `http_routes`, minus the framework's
    per-connection work (exception middleware, scope state): `app = RealtimeASGI(create_app(),
    engine)`. The wrapped app still runs its lifespan, so `engine.lifespan` can stay in its
    lifespan list.
    """

    def __init__(
        self,
        app: Any,
        engine: Engine,
        path: str = "/connection/websocket",
        http_paths: dict[str, str] | None = None,
    ) -> None:
        self.app = app
        self.engine = engine
        self.path = path
        self.http = {p: _http_handler(kind) for p, kind in (http_paths or HTTP_PATHS).items()}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "websocket" and scope.get("path") == self.path:
            await serve_websocket(self.engine, scope, receive, send)
        elif kind == "http" and scope.get("path") in self.http:
            await self.http[scope["path"]](self.engine, scope, receive, send)
        else:
            await self.app(scope, receive, send)
