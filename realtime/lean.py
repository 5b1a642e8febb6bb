"""Small stand-ins for the asyncio objects a server keeps per websocket connection.

uvicorn's websockets-sansio protocol holds an `asyncio.Queue` of received messages (three
deques and an Event with a fourth: ~3.3 KiB) and an `asyncio.Event` for write flow control
(~0.9 KiB) per connection, although a connection has one reader and rarely more than one
queued message. With direct writes (realtime.gateway) the engine swaps them for these after
the handshake: the same operations uvicorn and the engine use, a few hundred bytes less than
a kilobyte together, allocated lazily. Idle subscribers are most connections, so this is
most of what a connection costs above the socket itself.
"""

from __future__ import annotations

import asyncio
from typing import Any


class LeanQueue:
    """What uvicorn does with its receive queue: `put_nowait`, `get_nowait`, `empty`,
    `qsize`, and readers awaiting `get()` or `ready()` (in practice the one ASGI task)."""

    __slots__ = ("_items", "_getters")

    def __init__(self) -> None:
        self._items: list[Any] | None = None
        self._getters: list[asyncio.Future[None]] | None = None

    def put_nowait(self, item: Any) -> None:
        items = self._items
        if items is None:
            self._items = [item]
        else:
            items.append(item)
        getters = self._getters
        if getters:
            self._getters = None
            for getter in getters:
                if not getter.done():
                    getter.set_result(None)

    def get_nowait(self) -> Any:
        items = self._items
        if not items:
            raise asyncio.QueueEmpty
        item = items.pop(0)
        if not items:
            self._items = None
        return item

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def ready(self) -> asyncio.Future[None]:
        """A future done once the queue holds an item (a plain future, not a coroutine: an
        idle reader costs no frame). A reader cancelled meanwhile leaves a cancelled future,
        which the next `put_nowait` drops."""
        getter = asyncio.get_running_loop().create_future()
        if self._items:
            getter.set_result(None)
        elif self._getters is None:
            self._getters = [getter]
        else:
            self._getters.append(getter)
        return getter

    async def get(self) -> Any:
        while not self._items:
            await self.ready()
        return self.get_nowait()


class LeanEvent:
    """`asyncio.Event`'s operations (set, clear, is_set, wait) with the waiters' list made
    only while someone waits. `value` is `is_set()` as a plain attribute: the fan-out's
    per-subscriber loop reads it without a call (read it, never assign it: `set()` and
    `clear()` wake the waiters)."""

    __slots__ = ("value", "_waiters")

    def __init__(self, value: bool = False) -> None:
        self.value = value
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self.value

    def set(self) -> None:
        if self.value:
            return
        self.value = True
        waiters = self._waiters
        if waiters:
            self._waiters = None
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def clear(self) -> None:
        self.value = False

    async def wait(self) -> bool:
        if self.value:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = [waiter]
        else:
            self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            waiters = self._waiters
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
