"""Graceful shutdown of the real hub process (`uvicorn asgi:app`, as deployed): on SIGTERM the
SDKs are told 3001 "shutdown" - reconnect elsewhere - before uvicorn closes sockets (1012)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from typing import Any

from tests.conftest import ROOT
from tests.realtime.sdk_helpers import make_client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn_hub(port: int) -> tuple[subprocess.Popen[bytes], Any]:
    """The production entry point, on the test session's PostgreSQL and Redis."""
    log = open(ROOT / ".testdata" / f"hub-shutdown-{port}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "asgi:app",
            "--port",
            str(port),
            "--ws-per-message-deflate",
            "false",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=dict(os.environ, HUB_LOG_LEVEL="WARNING"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, log


async def test_sigterm_tells_sdk_clients_3001_before_the_server_goes(register, hub_env):
    user = await register()
    port = _free_port()
    proc, log = _spawn_hub(port)
    client = None
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"the hub exited: see {log.name}"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the hub did not start"
                await asyncio.sleep(0.1)
        client = make_client(f"ws://127.0.0.1:{port}/connection/websocket", token=user.token)
        events = client.test_events  # type: ignore[attr-defined]
        await client.connect()
        await events.wait_for(lambda: events.connected, within=20)
        proc.terminate()
        # The SDK was told to reconnect (3001), not merely dropped (1012 / transport closed).
        await events.wait_for(lambda: any(c.code == 3001 for c in events.connecting), within=15)
        await asyncio.to_thread(proc.wait, 20)
    finally:
        if client is not None:
            await client.disconnect()
        if proc.poll() is None:
            proc.kill()
        log.close()
