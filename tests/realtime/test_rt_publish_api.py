"""Server publish API: idempotent publishes and batched publishes keep offsets gap-free."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
import redis.asyncio as aioredis

from realtime import NamespaceOptions, Publisher, UnknownChannel

OPTS = {"ch": NamespaceOptions(history_size=100, history_ttl_seconds=60)}


@pytest.fixture
async def publisher(redis_url):
    client = aioredis.Redis.from_url(redis_url)
    yield Publisher(client, lambda channel: OPTS.get(channel.split(":", 1)[0]))
    await client.aclose()


async def test_idempotent_publish_happens_once(publisher, uid):
    channel = f"ch:{uid}"
    first = await publisher.publish(channel, {"type": "run.completed"}, idempotency_key="terminal")
    again = await asyncio.gather(
        *[
            publisher.publish(channel, {"type": "run.completed"}, idempotency_key="terminal")
            for _ in range(5)
        ]
    )
    assert not first.duplicate
    assert all(r.duplicate and (r.offset, r.epoch) == (first.offset, first.epoch) for r in again)
    nxt = await publisher.publish(channel, {"type": "other"})
    assert nxt.offset == first.offset + 1  # duplicates consumed no offset
    history = await publisher.redis.xrange(publisher.keys.stream(channel))
    assert len(history) == 2


async def test_publish_many_in_one_round_trip_keeps_order(publisher, uid):
    a, b = f"ch:{uid}a", f"ch:{uid}b"
    items = [(a, {"i": i}) for i in range(5)] + [
        (b, {"i": 0}),
        (a, {"i": 5}, "k5"),
        (a, {"i": 5}, "k5"),
    ]
    results = await publisher.publish_many(items)
    assert [r.offset for r in results[:5]] == [1, 2, 3, 4, 5]
    assert results[5].offset == 1
    assert results[6].offset == 6 and not results[6].duplicate
    assert results[7].offset == 6 and results[7].duplicate
    assert await publisher.publish_many([]) == []
    with pytest.raises(UnknownChannel):
        await publisher.publish_many([(a, {"i": 7}), ("nope:x", {})])
    assert (
        await publisher.publish(a, {"i": 7})
    ).offset == 7  # nothing of the failed batch was sent


async def test_publish_many_of_a_large_batch_and_after_redis_forgot_its_scripts(publisher, uid):
    """A batch of several script calls keeps every channel's order and offsets; a Redis that
    lost its script cache (restarted, failed over) gets the script again and nothing is
    published twice or skipped."""
    from realtime import broker

    channels = [f"ch:{uid}{c}" for c in "xyz"]
    n = 2 * broker.BATCH_ITEMS + 10
    items = [(channels[i % 3], {"i": i}) for i in range(n)]
    results = await publisher.publish_many(items)
    for c, channel in enumerate(channels):
        offsets = [r.offset for (ch, _), r in zip(items, results, strict=True) if ch == channel]
        assert offsets == list(range(1, len(offsets) + 1))
        entries = await publisher.redis.xrange(publisher.keys.stream(channel))
        assert [msgspec.json.decode(f[b"d"])["i"] for _, f in entries][-3:] == [
            i for i in range(n) if i % 3 == c
        ][-3:]
    for batch in ([(channels[0], {"i": "small"})], items[:30] * 40):
        await publisher.redis.script_flush()
        before = await publisher.redis.hget(publisher.keys.meta(channels[0]), "s")
        again = await publisher.publish_many(batch)
        mine = [r.offset for (ch, _), r in zip(batch, again, strict=True) if ch == channels[0]]
        assert mine == list(range(int(before) + 1, int(before) + 1 + len(mine)))
