"""Helpers around the official centrifuge-python SDK for the realtime tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from centrifuge import (
    Client,
    ClientEventHandler,
    PublicationContext,
    SubscribedContext,
    SubscriptionEventHandler,
)


class Waitable:
    """Event handlers that record into lists and let a test wait for a condition on them."""

    changed: asyncio.Event

    async def wait_for(self, predicate: Any, within: float = 5.0) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), within)


class Recorder(Waitable, SubscriptionEventHandler):
    """Collects publications and subscribed events of one subscription."""

    def __init__(self, protobuf: bool = False) -> None:
        self.protobuf = protobuf
        self.pubs: list[tuple[int, Any]] = []
        self.subscribed: list[SubscribedContext] = []
        self.joins: list[Any] = []
        self.leaves: list[Any] = []
        self.unsubscribed: list[Any] = []
        self.errors: list[Any] = []
        self.changed = asyncio.Event()

    def data(self) -> list[Any]:
        return [d for _, d in self.pubs]

    def offsets(self) -> list[int]:
        return [o for o, _ in self.pubs]

    async def on_publication(self, ctx: PublicationContext) -> None:
        data = ctx.pub.data
        if self.protobuf:
            data = json.loads(data)
        self.pubs.append((ctx.pub.offset, data))
        self.changed.set()

    async def on_subscribed(self, ctx: SubscribedContext) -> None:
        self.subscribed.append(ctx)
        self.changed.set()

    async def on_join(self, ctx: Any) -> None:
        self.joins.append(ctx.info)
        self.changed.set()

    async def on_leave(self, ctx: Any) -> None:
        self.leaves.append(ctx.info)
        self.changed.set()

    async def on_unsubscribed(self, ctx: Any) -> None:
        self.unsubscribed.append(ctx)
        self.changed.set()

    async def on_error(self, ctx: Any) -> None:
        self.errors.append(ctx)
        self.changed.set()


class ClientEvents(Waitable, ClientEventHandler):
    def __init__(self) -> None:
        self.disconnects: list[Any] = []
        self.connecting: list[Any] = []
        self.errors: list[Any] = []
        self.connected: list[Any] = []
        self.changed = asyncio.Event()

    async def on_connected(self, ctx: Any) -> None:
        self.connected.append(ctx)
        self.changed.set()

    async def on_connecting(self, ctx: Any) -> None:
        self.connecting.append(ctx)
        self.changed.set()

    async def on_disconnected(self, ctx: Any) -> None:
        self.disconnects.append(ctx)
        self.changed.set()

    async def on_error(self, ctx: Any) -> None:
        self.errors.append(ctx)
        self.changed.set()


def make_client(url: str, token: str = "", protobuf: bool = False, **kw: Any) -> Client:
    events = kw.pop("events", None) or ClientEvents()
    kw.setdefault("proxy", None)
    client = Client(url, token=token, use_protobuf=protobuf, events=events, timeout=5.0, **kw)
    client.test_events = events  # type: ignore[attr-defined]
    return client


def encode(data: Any, protobuf: bool) -> Any:
    return json.dumps(data).encode() if protobuf else data


class RawClient:
    """A bare websocket speaking the protocol by hand, to test edge cases SDKs never send."""

    def __init__(self, ws: Any, protobuf: bool = False) -> None:
        self.ws = ws
        self.protobuf = protobuf
        self.next_id = 0
        self.pending: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, url: str, protobuf: bool = False, **kw: Any) -> RawClient:
        from websockets.asyncio.client import connect

        subprotocols = ["centrifuge-protobuf"] if protobuf else None
        ws = await connect(url, subprotocols=subprotocols, max_size=None, proxy=None, **kw)
        return cls(ws, protobuf)

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def command(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        cid = self.next_id
        await self.ws.send(json.dumps({"id": cid, method: params or {}}))
        return await self.reply(cid)

    async def reply(self, cid: int, within: float = 5.0) -> dict[str, Any]:
        async def loop() -> dict[str, Any]:
            while True:
                for i, msg in enumerate(self.pending):
                    if msg.get("id") == cid:
                        return self.pending.pop(i)
                await self._read()

        return await asyncio.wait_for(loop(), within)

    async def _read(self) -> None:
        frame = await self.ws.recv()
        for line in frame.split("\n"):
            if line.strip():
                self.pending.append(json.loads(line))

    async def pushes(self, n: int, within: float = 5.0) -> list[dict[str, Any]]:
        async def loop() -> list[dict[str, Any]]:
            while sum(1 for m in self.pending if "push" in m) < n:
                await self._read()
            out = [m for m in self.pending if "push" in m][:n]
            for m in out:
                self.pending.remove(m)
            return out

        return await asyncio.wait_for(loop(), within)

    async def closed(self, within: float = 10.0) -> tuple[int | None, str]:
        """Read until the server closes; (close code, reason)."""
        from websockets.exceptions import ConnectionClosed

        async def loop() -> None:
            try:
                while True:
                    await self.ws.recv()
            except ConnectionClosed:
                return

        await asyncio.wait_for(loop(), within)
        rcvd = self.ws.protocol.close_rcvd
        return (rcvd.code, rcvd.reason) if rcvd is not None else (None, "")

    async def close(self) -> None:
        await self.ws.close()
