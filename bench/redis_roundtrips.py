"""Redis round trips on the publishing side, per kind of event.

    .venv/bin/python bench/redis_roundtrips.py

On a throw-away stack (bench/stack.py: its own Redis and PostgreSQL), this process publishes
through the code the hub runs, with every Redis connection counting what it sends (one
`send_packed_command` is one round trip: a pipeline's commands leave in one write and their
replies are read back together):
- **run deltas**: the run executor's flusher (`hub.runs.executor._Flusher._publish_due`) with
  N streaming runs each holding a delta, published through the worker's stream publisher;
- **chat message**: `hub.rooms.messages.post_message` (validation, rate limit, the message's
  transaction with its outbox rows, delivery after commit);
- **notification**: `hub.community.notifications.notify` in an outbox transaction.
For each it prints the round trips and commands of the publication itself (`live.publish*`)
and of the whole operation, after a warm-up (scripts loaded, connections open).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import Stack  # noqa: E402


class Tally:
    def __init__(self) -> None:
        self.round_trips = 0
        self.commands: Counter[str] = Counter()


_active: ContextVar[tuple[Tally, ...]] = ContextVar("tallies", default=())


@contextlib.contextmanager
def counting(tally: Tally) -> Iterator[Tally]:
    token = _active.set((*_active.get(), tally))
    try:
        yield tally
    finally:
        _active.reset(token)


def install_counters() -> None:
    """Count on every redis-py asyncio connection of this process."""
    from redis.asyncio.connection import AbstractConnection

    send = AbstractConnection.send_packed_command
    pack_command = AbstractConnection.pack_command
    pack_commands = AbstractConnection.pack_commands

    async def send_packed_command(self: Any, command: Any, check_health: bool = True) -> None:
        for tally in _active.get():
            tally.round_trips += 1
        await send(self, command, check_health)

    def _name(args: Any) -> str:
        first = args[0]
        name = first.decode() if isinstance(first, bytes) else str(first)
        return name.split()[0].upper()

    def counted_pack_command(self: Any, *args: Any) -> Any:
        for tally in _active.get():
            tally.commands[_name(args)] += 1
        return pack_command(self, *args)

    def counted_pack_commands(self: Any, commands: Any) -> Any:
        commands = list(commands)
        for tally in _active.get():
            for args in commands:
                tally.commands[_name(args)] += 1
        # pack_commands calls pack_command per command: do not count those twice.
        token = _active.set(())
        try:
            return pack_commands(self, commands)
        finally:
            _active.reset(token)

    AbstractConnection.send_packed_command = send_packed_command  # type: ignore[method-assign]
    AbstractConnection.pack_command = counted_pack_command  # type: ignore[method-assign]
    AbstractConnection.pack_commands = counted_pack_commands  # type: ignore[method-assign]


def wrap_live(publish_tally: list[Tally]) -> None:
    """Count what happens inside live.publish / publish_many / publish_stream separately."""
    from hub import live

    for name in ("publish", "publish_many", "publish_stream"):
        inner = getattr(live, name)

        async def wrapped(*args: Any, _inner: Any = inner, **kw: Any) -> Any:
            if not publish_tally:
                return await _inner(*args, **kw)
            with counting(publish_tally[-1]):
                return await _inner(*args, **kw)

        setattr(live, name, wrapped)


async def _user(handle: str) -> uuid.UUID:
    from hub.platform.db import fetchrow

    row = await fetchrow(
        "INSERT INTO users (email, handle, display_name, password_hash, email_verified_at) "
        "VALUES ($1, $2, $2, 'x', now()) RETURNING id",
        f"{handle}@bench.dev",
        handle,
    )
    assert row is not None
    return row["id"]


async def run_deltas(runs: int) -> tuple[Tally, Tally]:
    """One flusher tick publishing one delta of each of `runs` streaming runs."""
    from hub.providers.base import TokenDelta
    from hub.runs import executor

    streams = []
    for _ in range(runs):
        row = {"id": uuid.uuid4(), "attempt": 1}
        first = {"type": "run.started", "run_id": str(row["id"]), "attempt": 1}
        stream = executor._Stream(row, "bench", first)
        streams.append(stream)
        executor._flusher.streams.add(stream)
        executor._flusher.ready(stream)
    await executor._flusher._publish_due()  # run.started of each, and the script's first use
    for stream in streams:
        stream.add(TokenDelta(" word"))
    publish, whole = Tally(), Tally()
    PUBLISH.append(publish)
    with counting(whole):
        await executor._flusher._publish_due()
    PUBLISH.pop()
    assert all(s.confirmed_seq == 1 for s in streams), "a delta did not land"
    for stream in streams:
        executor._flusher.remove(stream)
    return publish, whole


async def chat_message() -> tuple[Tally, Tally]:
    from hub.platform.auth import CurrentUser
    from hub.rooms import messages, service

    author = CurrentUser(id=str(await _user(f"rt{uuid.uuid4().hex[:8]}")))
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    await service.create_room(author, slug, "Bench", "public")
    await messages.post_message(slug, author, "warm-up")
    publish, whole = Tally(), Tally()
    PUBLISH.append(publish)
    with counting(whole):
        await messages.post_message(slug, author, "hello")
    PUBLISH.pop()
    return publish, whole


async def notification() -> tuple[Tally, Tally]:
    from hub import outbox
    from hub.community import notifications

    user, actor = await _user(f"nu{uuid.uuid4().hex[:8]}"), await _user(f"na{uuid.uuid4().hex[:8]}")
    async with outbox.transaction():
        await notifications.notify(user, "follower.new", f"warm:{uuid.uuid4()}", actor_id=actor)
    publish, whole = Tally(), Tally()
    PUBLISH.append(publish)
    with counting(whole):
        async with outbox.transaction():
            await notifications.notify(
                user, "payout.paid", f"bench:{uuid.uuid4()}", data={"amount_cents": 1000}
            )
    PUBLISH.pop()
    return publish, whole


PUBLISH: list[Tally] = []


def fmt(t: Tally) -> str:
    cmds = ", ".join(f"{n}×{c}" for n, c in sorted(t.commands.items()))
    return f"{t.round_trips} ({cmds})"


async def main(runs: int) -> None:
    install_counters()
    wrap_live(PUBLISH)
    async with Stack("bench_roundtrips"):
        from hub.platform import redis as hub_redis
        from hub.platform.db import close_pool, start_pool
        from hub.platform.settings import get_settings
        from workers import realtime_publisher

        hub_redis.connect(get_settings().redis_url)
        await start_pool(min_size=1, max_size=4)
        await realtime_publisher.install(get_settings())
        try:
            rows = [
                (f"run deltas of {runs} runs (one flusher tick)", *await run_deltas(runs)),
                ("run delta of 1 run (one flusher tick)", *await run_deltas(1)),
                ("chat message (POST /rooms/{slug}/messages)", *await chat_message()),
                ("notification (notify in an outbox transaction)", *await notification()),
            ]
        finally:
            await realtime_publisher.uninstall()
            await close_pool()
            await hub_redis.close()
    print("| event | publishing: round trips (commands) | whole operation: round trips |")
    print("|---|---|---|")
    for name, publish, whole in rows:
        print(f"| {name} | {fmt(publish)} | {fmt(whole)} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    asyncio.run(main(parser.parse_args().runs))
