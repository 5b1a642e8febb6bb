"""Community costs on a throw-away stack (bench/stack.py): how long one live unread-count pass
of a room takes for its followers, and how fast a notification list with large groups reads.

    .venv/bin/python bench/community_bench.py                 # 1k and 5k followers
    .venv/bin/python bench/community_bench.py --followers 20000

What it measures, in this process against the stack's PostgreSQL and Redis:
- `reads.fanout(room)`: the arq job that pushes `room.unread` to every follower of a room
  (two queries, counting in memory, one batched publish of N events through the same Lua
  script as every publication). Run once per room and second at most, whatever the traffic.
- `notifications.list_notifications`: the first page (20) for a user with 20 groups of 500
  follows each (10,000 rows), and `unread_count`, p50/p95 over 50 calls.
Loopback only; it stops by itself and removes what it started.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import Stack, pct  # noqa: E402


async def _users(n: int) -> list[uuid.UUID]:
    from hub.platform.db import fetch

    rows = await fetch(
        "INSERT INTO users (email, handle, display_name, password_hash) "
        "SELECT 'b' || i || '-' || $2 || '@example.com', 'b' || $2 || '_' || i, 'Bench ' || i, 'x' "
        "FROM generate_series(1, $1) i RETURNING id",
        n,
        uuid.uuid4().hex[:6],
    )
    return [r["id"] for r in rows]


async def bench_fanout(followers: int) -> dict[str, float]:
    from hub.platform.db import fetch, fetchrow
    from hub.rooms import reads

    users = await _users(followers + 1)
    author, rest = users[0], users[1:]
    room = await fetchrow(
        "INSERT INTO rooms (slug, title, visibility, kind) VALUES ($1, 'Bench', 'public', 'custom') "
        "RETURNING id",
        f"bench-{uuid.uuid4().hex[:8]}",
    )
    assert room is not None
    await fetch(
        "INSERT INTO room_messages (room_id, author_id, text, created_at) "
        "SELECT $1, $2, 'message ' || i, now() - make_interval(secs => 200 - i) "
        "FROM generate_series(1, 150) i",
        room["id"],
        author,
    )
    # Followers read up to various points: some are up to date, most are behind.
    await fetch(
        "INSERT INTO room_reads (user_id, room_id, last_read_at) "
        "SELECT u, $1, now() - make_interval(secs => (random() * 200)::int) "
        "FROM unnest($2::uuid[]) u",
        room["id"],
        rest,
    )
    times = []
    told = 0
    for _ in range(5):
        start = time.perf_counter()
        told = await reads.fanout(str(room["id"]))
        times.append((time.perf_counter() - start) * 1000)
    return {
        "followers": followers,
        "told": told,
        "pass_ms_median": round(statistics.median(times), 1),
    }


async def bench_notifications() -> dict[str, float]:
    from hub.community import notifications
    from hub.platform.db import fetch

    [me] = await _users(1)
    fans = await _users(500)
    for group in range(20):
        # 20 groups of 500 follows: one head and 499 members each.
        head = await fetch(
            "INSERT INTO notifications (user_id, kind, dedupe_key, actor_id, group_key, "
            "group_size, created_at, last_at) VALUES ($1, 'follower.new', $2, $3, $4, 500, "
            "now() - make_interval(hours => $5), now() - make_interval(hours => $5)) RETURNING id",
            me,
            f"follower:{group}:head",
            fans[0],
            f"follower.new:{group}",
            group,
        )
        await fetch(
            "INSERT INTO notifications (user_id, kind, dedupe_key, actor_id, group_key, group_id, "
            "created_at) SELECT $1, 'follower.new', 'follower:' || $2 || ':' || a, a, $3, $4, "
            "now() - make_interval(hours => $5) FROM unnest($6::uuid[]) a",
            me,
            str(group),
            f"follower.new:{group}",
            head[0]["id"],
            group,
            fans[1:],
        )
    page_ms, count_ms = [], []
    for _ in range(50):
        start = time.perf_counter()
        page = await notifications.list_notifications(str(me), None, None, 20)
        page_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        await notifications.unread_count(me)
        count_ms.append((time.perf_counter() - start) * 1000)
    assert page.items[0].count == 500 and page.unread_count == 20
    return {
        "rows": 10000,
        "page_p50_ms": pct(page_ms, 0.5),
        "page_p95_ms": pct(page_ms, 0.95),
        "unread_p50_ms": pct(count_ms, 0.5),
    }


async def main(followers: list[int]) -> None:
    async with Stack("bench_community"):
        from hub.platform import redis as hub_redis
        from hub.platform.db import close_pool, start_pool
        from hub.platform.settings import get_settings
        from workers import realtime_publisher

        hub_redis.connect(get_settings().redis_url)
        await start_pool(min_size=1, max_size=4)
        await realtime_publisher.install(get_settings())
        try:
            for n in followers:
                print("room unread pass:", await bench_fanout(n), flush=True)
            print("notification list:", await bench_notifications(), flush=True)
        finally:
            await realtime_publisher.uninstall()
            await close_pool()
            await hub_redis.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--followers", type=int, nargs="*", default=[1000, 5000])
    asyncio.run(main(parser.parse_args().followers))
