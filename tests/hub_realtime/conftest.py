"""Realtime through the hub itself: the real app (its authenticator and channel policy) served by
uvicorn, with the official SDKs (centrifuge-python in-process, centrifuge-js under Node)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Account

ROOT = Path(__file__).resolve().parents[2]
JS = Path(__file__).resolve().parent / "js"
HAS_NODE = shutil.which("node") is not None and (ROOT / "node_modules" / "centrifuge").exists()
needs_node = pytest.mark.skipif(not HAS_NODE, reason="needs node and `npm ci` at the root")


class TcpProxy:
    """A loopback TCP relay to the hub that a test can cut and restore, so an SDK's connection
    drops and its reconnect attempts fail, as on a phone that lost its network."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    async def cut(self) -> None:
        """Stop accepting and drop every relayed connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/connection/websocket"


@pytest.fixture
async def proxy(hub_server: str) -> AsyncIterator[TcpProxy]:
    p = TcpProxy(int(hub_server.rsplit(":", 1)[1]))
    await p.start()
    yield p
    await p.cut()


class NodeScenario:
    """One scenario of js/hub_scenarios.js under Node. It prints one JSON object per line:
    `{"event": ...}` as it reaches each step (so the test can act: publish, cut the network)
    and finally `{"event": "result", ...}`."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, scenario: str, args: dict[str, Any]) -> NodeScenario:
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(JS / "hub_scenarios.js"),
            scenario,
            json.dumps(args),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def expect(self, event: str, within: float = 30) -> dict[str, Any]:
        """Read lines until the scenario reports `event`; fails if it exits first."""
        assert self.proc.stdout is not None

        async def read() -> dict[str, Any]:
            while True:
                line = await self.proc.stdout.readline()  # type: ignore[union-attr]
                if not line:
                    err = await self.proc.stderr.read()  # type: ignore[union-attr]
                    raise AssertionError(f"node exited before {event!r}: {err.decode()[-4000:]}")
                if not line.startswith(b"{"):
                    continue
                msg = json.loads(line)
                self.events.append(msg)
                if msg.get("event") == event:
                    return msg

        try:
            return await asyncio.wait_for(read(), within)
        except TimeoutError:
            self.kill()
            raise

    async def result(self, within: float = 60) -> dict[str, Any]:
        msg = await self.expect("result", within)
        await asyncio.wait_for(self.proc.wait(), 10)
        return msg

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


async def run_js(scenario: str, args: dict[str, Any], within: float = 60) -> dict[str, Any]:
    """Run a scenario that needs nothing from the test while it runs; its result."""
    node = await NodeScenario.start(scenario, args)
    try:
        return await node.result(within)
    finally:
        node.kill()


async def login(client: Any, account: Account) -> dict[str, Any]:
    """A second session of `account` (fresh access + refresh tokens)."""
    r = await client.post(
        "/auth/login", json={"email": account["email"], "password": account["password"]}
    )
    assert r.status_code == 200, r.text
    return r.json()
