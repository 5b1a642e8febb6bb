"""How a connection's frames leave over ASGI `send`: websocket, HTTP streaming, SSE.

One client state machine (realtime.client.Client) serves every transport; a transport only
decides how a batch of encoded replies/pushes becomes an ASGI message and how the stream ends.

* websocket: one text (JSON lines joined with "\\n") or binary (concatenated varint-delimited
  Protobuf) frame per batch; the end is a close frame with the disconnect code.
* http_stream (Centrifuge bidirectional emulation): the response body of the POST that carried
  the connect command; JSON replies one per line, Protobuf varint-delimited; the end is a
  `disconnect` push, then the end of the body.
* sse (emulation, JSON only): `data: <reply>\\n\\n` events of a `text/event-stream`; the end
  as for http_stream.

Emulated transports carry client-to-server commands in separate `POST /emulation` requests
(realtime.http_transports), addressed to the connection by its node and session ids.
"""

from __future__ import annotations

from typing import Any

from realtime.errors import Disconnect
from realtime.protocol.codec import disconnect_push


class Transport:
    name = "websocket"
    #: Bidirectional emulation: commands arrive through /emulation, disconnects as pushes.
    emulated = False

    def message(self, items: list[Any], protobuf: bool) -> dict[str, Any]:
        if protobuf:
            return {
                "type": "websocket.send",
                "bytes": items[0] if len(items) == 1 else b"".join(items),
            }
        return {"type": "websocket.send", "text": items[0] if len(items) == 1 else "\n".join(items)}

    def closing(self, pending: list[Any], protobuf: bool, disconnect: Disconnect) -> list[dict]:
        out = [self.message(pending, protobuf)] if pending else []
        out.append(
            {"type": "websocket.close", "code": disconnect.code, "reason": disconnect.reason}
        )
        return out


class HttpStream(Transport):
    name = "http_stream"
    emulated = True

    def message(self, items: list[Any], protobuf: bool) -> dict[str, Any]:
        body = b"".join(items) if protobuf else ("\n".join(items) + "\n").encode()
        return {"type": "http.response.body", "body": body, "more_body": True}

    def closing(self, pending: list[Any], protobuf: bool, disconnect: Disconnect) -> list[dict]:
        items = [*pending, disconnect_push(disconnect.code, disconnect.reason, protobuf)]
        return [
            self.message(items, protobuf),
            {"type": "http.response.body", "body": b"", "more_body": False},
        ]


class Sse(HttpStream):
    name = "sse"

    def message(self, items: list[Any], protobuf: bool) -> dict[str, Any]:
        body = "".join(f"data: {item}\n\n" for item in items).encode()
        return {"type": "http.response.body", "body": body, "more_body": True}


WEBSOCKET = Transport()
HTTP_STREAM = HttpStream()
SSE = Sse()
