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


class Recorder(SubscriptionEventHandler):
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

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)


class ClientEvents(ClientEventHandler):
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

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)


def make_client(url: str, token: str = "", protobuf: bool = False, **kw: Any) -> Client:
    events = kw.pop("events", None) or ClientEvents()
    client = Client(url, token=token, use_protobuf=protobuf, events=events, timeout=5.0, **kw)
    client.test_events = events  # type: ignore[attr-defined]
    return client


def encode(data: Any, protobuf: bool) -> Any:
    return json.dumps(data).encode() if protobuf else data
