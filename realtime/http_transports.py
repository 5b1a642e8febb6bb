"""HTTP fallbacks for networks that block websockets: Centrifuge's bidirectional emulation.

Same protocol, same client state machine, permissions and recovery as the websocket; only the
framing differs (see realtime.transports), as centrifuge-js uses them with its `transports`
option:

* `POST /connection/http_stream`: the body holds the first command(s) (the connect);
  the response body streams replies and pushes: JSON one per line
  (`Content-Type: application/json` request), Protobuf varint-delimited
  (`application/octet-stream`).
* `GET /connection/sse?cf_connect=<JSON command>` (or POST with it as body): an EventSource
  stream, `data: <JSON reply>` per event; JSON only.
* `POST /emulation` `{"node", "session", "data"}` (JSON: `data` is the command text; Protobuf:
  an EmulationRequest): every later command of such a connection. The connect result told the
  SDK its `session` and `node`; a request reaching another hub process is forwarded to that
  node's Redis channel. 204 when delivered (also when the session has already ended: its
  stream has ended too, the SDK reconnects), 404 when no process has that node id.

A stream ends with a `disconnect` push carrying the code (there is no close frame), then the
end of the body.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

import msgspec

from realtime.client import Client
from realtime.node import Engine
from realtime.protocol.codec import read_varint
from realtime.transports import HTTP_STREAM, SSE

log = logging.getLogger("realtime.http")

_NO_CACHE = [
    (b"cache-control", b"private, no-cache, no-store, must-revalidate, max-age=0"),
    (b"pragma", b"no-cache"),
    (b"expires", b"0"),
    (b"x-accel-buffering", b"no"),
]


class _Gone(Exception):
    """The peer went away before the request body was read."""


async def _read_body(receive: Any, limit: int) -> bytes | None:
    """The request body, or None when it is larger than `limit`."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            return None
        chunks.append(body)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(
    send: Any, status: int, headers: list[tuple[bytes, bytes]] | None = None, body: bytes = b""
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or []})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Any, name: bytes) -> str:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


async def _preflight_or_method(scope: Any, send: Any, allowed: tuple[str, ...]) -> bool:
    """Answer OPTIONS and wrong methods; True when the request should go on."""
    method = scope.get("method", "GET")
    if method == "OPTIONS":
        await _respond(
            send,
            204,
            [
                (b"access-control-max-age", b"300"),
                (b"access-control-allow-methods", ", ".join((*allowed, "OPTIONS")).encode()),
            ],
        )
        return False
    if method not in allowed:
        await _respond(send, 405, [(b"allow", ", ".join(allowed).encode())])
        return False
    return True


async def _stream(client: Client, receive: Any) -> None:
    """Hold the response open until the stream ended (server side) or the peer left."""
    assert client.done is not None
    gone = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        await asyncio.wait({gone, client.done}, return_when=asyncio.FIRST_COMPLETED)
        if gone.done():
            client.close(None)
    finally:
        gone.cancel()


async def _wait_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def serve_http_stream(engine: Engine, scope: Any, receive: Any, send: Any) -> None:
    """`POST /connection/http_stream`: one connection per response body."""
    if not await _preflight_or_method(scope, send, ("POST",)):
        return
    protobuf = _header(scope, b"content-type").startswith("application/octet-stream")
    try:
        body = await _read_body(receive, engine.config.max_frame_bytes)
    except _Gone:
        return
    if body is None:
        await _respond(send, 413)
        return
    content_type = b"application/octet-stream" if protobuf else b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", content_type), *_NO_CACHE],
        }
    )
    client = engine.connection(send, protobuf, None, HTTP_STREAM)
    try:
        await client.handle_frame(body)
        await _stream(client, receive)
    except Exception:  # noqa: BLE001
        log.exception("http_stream handler failed")
    finally:
        client.close(None)


async def serve_sse(engine: Engine, scope: Any, receive: Any, send: Any) -> None:
    """`GET /connection/sse?cf_connect=...` (or POST): an EventSource stream, JSON only."""
    if not await _preflight_or_method(scope, send, ("GET", "POST")):
        return
    if scope.get("method") == "POST":
        try:
            body = await _read_body(receive, engine.config.max_frame_bytes)
        except _Gone:
            return
        if body is None:
            await _respond(send, 413)
            return
        first: str | bytes = body
    else:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        values = query.get("cf_connect") or [""]
        first = values[0]
        if not first:
            await _respond(send, 400, [(b"content-type", b"text/plain")], b"cf_connect missing\n")
            return
        if len(first) > engine.config.max_frame_bytes:
            await _respond(send, 413)
            return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), *_NO_CACHE],
        }
    )
    await send({"type": "http.response.body", "body": b"\r\n", "more_body": True})
    client = engine.connection(send, False, None, SSE)
    try:
        await client.handle_frame(first)
        await _stream(client, receive)
    except Exception:  # noqa: BLE001
        log.exception("sse handler failed")
    finally:
        client.close(None)


class _EmulationJson(msgspec.Struct):
    session: str
    node: str
    data: str


def _emulation_protobuf(body: bytes) -> tuple[str, str, bytes]:
    """EmulationRequest{node=1, session=2, data=3} (all length-delimited)."""
    fields: dict[int, bytes] = {}
    pos = 0
    while pos < len(body):
        tag, pos = read_varint(body, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 2:
            length, pos = read_varint(body, pos)
            fields[number] = body[pos : pos + length]
            pos += length
        elif wire == 0:
            _, pos = read_varint(body, pos)
        else:
            raise ValueError("unsupported wire type")
    return fields.get(1, b"").decode(), fields.get(2, b"").decode(), fields.get(3, b"")


async def serve_emulation(engine: Engine, scope: Any, receive: Any, send: Any) -> None:
    """`POST /emulation`: commands of an emulated connection, routed to its process."""
    if not await _preflight_or_method(scope, send, ("POST",)):
        return
    try:
        body = await _read_body(receive, engine.config.max_frame_bytes)
    except _Gone:
        return
    if body is None:
        await _respond(send, 413)
        return
    data: str | bytes
    try:
        if _header(scope, b"content-type").startswith("application/octet-stream"):
            node, session, data = _emulation_protobuf(body)
        else:
            req = msgspec.json.decode(body, type=_EmulationJson)
            node, session, data = req.node, req.session, req.data
    except (msgspec.DecodeError, ValueError, UnicodeDecodeError, RecursionError):
        await _respond(send, 400, [(b"content-type", b"text/plain")], b"bad emulation request\n")
        return
    try:
        delivered = await engine.emulate(node, session, data)
    except Exception as e:  # noqa: BLE001 - Redis trouble: the SDK reconnects on 5xx
        log.warning("emulation failed: %r", e)
        await _respond(send, 503)
        return
    await _respond(send, 204 if delivered else 404)
