"""ASGI plumbing shared by the tests' fake HTTP services (Stripe Connect, Stripe Billing, an
identity provider): each reads a whole request and answers with JSON."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any


@asynccontextmanager
async def serve(app: Any, port: int | None = None, **config: Any) -> AsyncIterator[str]:
    """Serve the ASGI `app` with uvicorn on a loopback port (a free one unless given) while
    the block runs; yields its base URL. `config`: more `uvicorn.Config` options."""
    import uvicorn

    from hub.dev.embedded import free_port

    port = port or free_port()
    options: dict[str, Any] = {"log_level": "warning", "lifespan": "off", **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes no started event
        if task.done():
            task.result()  # it failed to start: say why
        if time.monotonic() > deadline:
            raise RuntimeError(f"the fake server on port {port} did not start in 10 s")
        await asyncio.sleep(0.025)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def read_request(scope: dict[str, Any], receive: Any) -> tuple[dict[str, str], bytes]:
    """The request's headers (lower-case names) and its whole body."""
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
    return headers, body


async def send_json(
    send: Any, status: int, payload: Any, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Answer `payload` as JSON (`None`: an empty body)."""
    raw = json.dumps(payload).encode() if payload is not None else b""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": raw})
