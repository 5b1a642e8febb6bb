"""Where the memory of an idle subscribed websocket connection goes.

    .venv/bin/python bench/conn_memory.py                    # RSS per connection, 10k
    .venv/bin/python bench/conn_memory.py --subs 2000 --tracemalloc 6   # and by allocation site

Starts Redis and the fan-out benchmark's server (bench/realtime_app.py, served as asgi.py
serves the hub: `RealtimeASGI` in front of Litestar, unless BENCH_MOUNT says otherwise),
connects N subscribers of one channel exactly as `realtime_fanout.py` does (connect +
subscribe, then idle), and prints the server's RSS growth per connection. With
`--tracemalloc F` the server traces allocations (F frames each) and the script prints what
is still allocated per connection after connecting, grouped by allocation site: Python
objects only (the RSS figure also holds allocator overhead and fragmentation), and
tracing itself slows the server, so take RSS from a run without it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.realtime_fanout import (  # noqa: E402
    Stats,
    connect_many,
    http_json,
    proc_rss,
    server_argv,
)
from bench.stack import free_port, redis_argv  # noqa: E402


async def main_async(args: argparse.Namespace) -> None:

    tmp = Path(tempfile.mkdtemp(prefix="bench-mem-"))
    redis_port, http_port = free_port(), free_port()
    redis_proc = subprocess.Popen(  # noqa: ASYNC220
        redis_argv(redis_port, tmp),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = dict(
        os.environ,
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        PYTHONPATH=str(ROOT),
        BENCH_MOUNT=os.environ.get("BENCH_MOUNT", "front"),
    )
    if args.tracemalloc:
        env["PYTHONTRACEMALLOC"] = str(args.tracemalloc)
    server = subprocess.Popen(server_argv(http_port), env=env)  # noqa: ASYNC220
    try:
        for _ in range(400):
            try:
                await http_json(http_port, "/bench/stats")
                break
            except OSError:
                await asyncio.sleep(0.05)
        stats = Stats()
        # Warm up: the first connections create the channel entry and one-off caches.
        warm = await connect_many(50, [http_port], stats, 0)
        await asyncio.sleep(0.5)
        if args.tracemalloc:
            await http_json(http_port, "/bench/tracemalloc/start")
        rss0 = proc_rss(server.pid)
        clients = await connect_many(args.subs, [http_port], stats, 50)
        await asyncio.sleep(args.settle)
        rss = proc_rss(server.pid)
        per = (rss - rss0) / len(clients)
        print(
            f"{len(clients)} idle subscribed connections: RSS {rss0 / 2**20:.1f} -> "
            f"{rss / 2**20:.1f} MiB, {per / 1024:.2f} KiB per connection",
            flush=True,
        )
        if args.tracemalloc:
            diff = await http_json(http_port, f"/bench/tracemalloc/diff?top={args.top}")
            n = len(clients)
            print(f"traced Python allocations: {diff['total'] / n / 1024:.2f} KiB per connection")
            for row in diff["rows"]:
                if abs(row["size"]) < n * 8:  # less than 8 bytes a connection
                    continue
                where = " <- ".join(
                    w.replace(str(ROOT) + "/", "").split("site-packages/")[-1] for w in row["where"]
                )
                print(f"{row['size'] / n:8.0f} B {row['count'] / n:5.2f}x  {where}")
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / f"conn_memory_{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
            json.dumps({"subs": len(clients), "rss0": rss0, "rss": rss, "per_conn": per})
        )
        for c in clients + warm:
            if c.transport is not None:
                c.transport.close()
    finally:
        for p in (server, redis_proc):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--subs", type=int, default=10_000)
    parser.add_argument("--tracemalloc", type=int, default=0, help="frames per allocation")
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--settle", type=float, default=1.0)
    args = parser.parse_args()
    import uvloop

    uvloop.run(main_async(args))


if __name__ == "__main__":
    main()
