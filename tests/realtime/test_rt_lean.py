"""The lean queue and event that replace uvicorn's per-connection asyncio objects: they must
behave as the asyncio ones do for the operations uvicorn and the engine use."""

from __future__ import annotations

import asyncio

import pytest

from realtime.lean import LeanEvent, LeanQueue


async def test_lean_queue_keeps_order_and_wakes_its_reader():
    queue = LeanQueue()
    assert queue.empty() and queue.qsize() == 0
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not reader.done()
    queue.put_nowait("a")
    queue.put_nowait("b")
    assert await reader == "a"
    assert queue.qsize() == 1 and await queue.get() == "b" and queue.empty()


async def test_a_cancelled_reader_loses_nothing():
    queue = LeanQueue()
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    queue.put_nowait("kept")
    assert await asyncio.wait_for(queue.get(), 1) == "kept"


async def test_lean_event_wakes_every_waiter_and_can_be_cleared():
    event = LeanEvent(True)
    assert event.is_set() and await event.wait()
    event.clear()
    waiters = [asyncio.create_task(event.wait()) for _ in range(3)]
    cancelled = asyncio.create_task(event.wait())
    await asyncio.sleep(0)
    cancelled.cancel()
    assert not any(w.done() for w in waiters)
    event.set()
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert event.value is True  # the fan-out loop reads it as an attribute
