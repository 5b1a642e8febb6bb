"""`make drill-scale` (`python -m drill.scale [names...]`): the hub scaled out, drilled.

The stack, all on loopback and all its own: PostgreSQL (pgserver's binaries), a plain Redis
for the queue, rate limits and revocation (`HUB_QUEUE_REDIS_URL`), a Redis Cluster of 3
masters + 3 replicas (Debian's redis-server 7) for the realtime engine
(`HUB_REDIS_CLUSTER=true`), three app processes behind nginx running the repository's
deploy/nginx/nginx.conf (no sticky sessions), and one worker. Every process is restarted
when it dies, as `restart: unless-stopped` does. Each drill is the one of `make drill`
(drill/scenario.py: 20 runs streaming to centrifuge-python subscribers, a chat, REST
probes, all through nginx), with the fault:

- lb-kill: SIGKILL one of the three app processes mid-stream; its clients reconnect
  through nginx to the others and recover.
- lb-drain: SIGTERM one app process (a rolling deploy): it tells its clients 3001 first,
  they reconnect through nginx elsewhere and recover; no request fails.
- cluster-failover: SIGKILL the Redis master that holds the most run channels; its
  replica is promoted. Subscribers of that shard's channels are told `recovered: false`
  (the promoted replica starts a new epoch) and reload from REST; the others notice nothing.

It prints the table (also written to the drill's folder as report.md) and exits non-zero
if a drill lost anything. Needs nginx and redis-server 7 (`apt-get install nginx
redis-server`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from drill.servers import (
    NginxServer,
    PostgresServer,
    RedisClusterServers,
    RedisServer,
    free_port,
    hub_env,
    migrate,
    nginx_binary,
    redis7_binary,
    wait_port,
)
from hub.dev.server import Child, Supervisor, app_argv, worker_argv

DRILLS = ["lb-kill", "lb-drain", "cluster-failover"]
APPS = 3


class Fleet(Supervisor):
    """Three app processes (app1..app3) and a worker, each restarted (1 s backoff, doubling)
    when it exits: the devserver's Supervisor, which runs one app, with more apps."""

    def __init__(self, env: dict[str, str], ports: list[int], log_dir: Path) -> None:
        self.ports = ports
        self.children = [
            Child(f"app{i + 1}", app_argv("127.0.0.1", port), env, log_dir / f"app{i + 1}.log")
            for i, port in enumerate(ports)
        ]
        self.children.append(Child("worker", worker_argv(), env, log_dir / "worker.log"))


async def _run_channels_by_master(cluster: RedisClusterServers, base: str) -> int:
    """The master port holding the most `runs:` channels with subscribers right now."""
    import redis.asyncio as aioredis

    counts: Counter[int] = Counter()
    for port in cluster.topology():
        async with aioredis.Redis(port=port) as r:
            counts[port] = len(await r.execute_command("PUBSUB", "SHARDCHANNELS", "hub:{runs:*"))
    return counts.most_common(1)[0][0]


def _inject_for(name: str, fleet: Fleet, cluster: RedisClusterServers, base: str) -> Any:
    async def inject() -> float | None:
        if name == "lb-kill":
            fleet.child("app2").proc.kill()
        elif name == "lb-drain":
            fleet.child("app1").proc.terminate()
        elif name == "cluster-failover":
            port = await _run_channels_by_master(cluster, base)
            await asyncio.to_thread(cluster.node(port).kill)
            await asyncio.to_thread(cluster.wait_failover_of, port)
            inject.failed_over = port  # type: ignore[attr-defined]
        else:
            raise ValueError(name)
        return None

    return inject


async def run(names: list[str], workdir: Path) -> list[Any]:
    from drill.scenario import READY_DEADLINE, drill, wait_ready

    pg = PostgresServer(workdir / "pg")
    queue = RedisServer(workdir / "queue-redis")
    cluster = RedisClusterServers(workdir / "cluster")
    fleet: Fleet | None = None
    lb: NginxServer | None = None
    rows: list[Any] = []
    try:
        pg.start()
        database_url = pg.create_database("hub")
        queue.start()
        await asyncio.to_thread(cluster.start)
        ports = [free_port() for _ in range(APPS)]
        env = hub_env(
            database_url,
            cluster.url,
            HUB_REDIS_CLUSTER="true",
            HUB_QUEUE_REDIS_URL=queue.url,
            HUB_ENV="dev",
            HUB_LOG_LEVEL="INFO",
            HUB_DEMO_TOKENS_PER_SECOND="40",
            HUB_RUN_STALE_SECONDS="5",
            HUB_DAILY_SPENDING_LIMIT_CENTS="100000000",
            HUB_TRUSTED_PROXIES="127.0.0.1",
        )
        os.environ.update(
            {k: v for k, v in env.items() if k.startswith(("HUB_", "DATABASE", "REDIS"))}
        )
        from hub.platform.db import close_pool, start_pool
        from hub.platform.settings import get_settings

        get_settings.cache_clear()
        await asyncio.to_thread(migrate, env)
        await start_pool(min_size=0, max_size=4)
        fleet = Fleet(env, ports, workdir)
        fleet.start()
        for port in ports:
            await asyncio.to_thread(wait_port, port, 60)
        lb = NginxServer(workdir / "nginx", ports).start()
        base = lb.url

        async def keep() -> None:
            while True:
                assert fleet is not None
                fleet.check()
                await asyncio.sleep(0.2)

        keeper = asyncio.create_task(keep())
        try:
            if await wait_ready(base, 60) is None:
                raise RuntimeError(f"the hub did not become ready; see {workdir}")
            for name in names:
                print(f"[drill] {name} ...", flush=True)
                started = time.monotonic()
                inject = _inject_for(name, fleet, cluster, base)
                row = await drill(name, base, fleet, pg, queue, workdir, inject=inject)
                row.failed_over = getattr(inject, "failed_over", None)
                print(
                    f"[drill] {name}: {'ok' if row.ok else 'NOT OK'} "
                    f"in {time.monotonic() - started:.0f}s",
                    flush=True,
                )
                rows.append(row)
                if name == "cluster-failover" and row.failed_over is not None:
                    # The killed node comes back as a replica (as a supervisor would start it).
                    await asyncio.to_thread(cluster.restart, row.failed_over)
                await wait_ready(base, READY_DEADLINE)
        finally:
            keeper.cancel()
            await close_pool()
    finally:
        if lb is not None:
            lb.stop()
        if fleet is not None:
            await asyncio.to_thread(fleet.stop)
        cluster.stop()
        queue.stop()
        pg.stop("immediate")
    return rows


def render(rows: list[Any]) -> str:
    head = (
        "| drill | runs finished (completed/failed/canceled) | stuck | terminal events per run "
        "| seq gaps | text ≠ REST | reloads from REST | chat sent / lost | money invariants "
        "| 5xx other than 503 | 503s | refused connections | clients reconnected (why) "
        "| ready again (s) |"
    )
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        finished = sum(r.statuses.values())
        split = "/".join(str(r.statuses.get(k, 0)) for k in ("completed", "failed", "canceled"))
        terminals = (
            str(r.terminal_min)
            if r.terminal_min == r.terminal_max
            else f"{r.terminal_min}–{r.terminal_max}"
        )
        why = ", ".join(f"{n}× {_code_name(code)}" for code, n in sorted(r.reconnect_codes.items()))
        lines.append(
            f"| {r.drill} | {finished} ({split}) | {r.stuck} | {terminals} | {r.seq_gaps} "
            f"| {r.text_mismatch} | {r.reloads} | {r.chat_sent} / {r.chat_lost} "
            f"| {r.invariants} | {r.http_5xx} | {r.http_503} | {r.conn_errors} "
            f"| {sum(r.reconnect_codes.values())}{f' ({why})' if why else ''} "
            f"| {r.ready_again if r.ready_again is not None else 'no'} |"
        )
    return "\n".join(lines)


def _code_name(code: int) -> str:
    return {3001: "3001 shutdown", 1: "connection dropped"}.get(code, str(code))


def main(argv: list[str]) -> int:
    names = argv or DRILLS
    unknown = [n for n in names if n not in DRILLS]
    if unknown:
        print(f"unknown drill(s): {', '.join(unknown)}; choose from {', '.join(DRILLS)}")
        return 2
    missing = [
        what
        for what, ok in (("nginx", nginx_binary()), ("redis-server 7+", redis7_binary()))
        if not ok
    ]
    if missing:
        print(f"[drill] needs {' and '.join(missing)}: apt-get install nginx redis-server")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="hub-drill-scale-"))
    print(f"[drill] servers and logs in {workdir}", flush=True)
    rows = asyncio.run(run(names, workdir))
    table = render(rows)
    print(table, flush=True)
    (workdir / "report.md").write_text(table + "\n")
    details = [f"{r.drill}: {d}" for r in rows for d in r.details]
    if details:
        (workdir / "details.txt").write_text("\n".join(details) + "\n")
        print(f"[drill] what went wrong: {workdir / 'details.txt'}", flush=True)
    print(f"[drill] report: {workdir / 'report.md'}", flush=True)
    with contextlib.suppress(Exception):
        failed = [r.drill for r in rows if not r.ok]
        if failed:
            print(f"[drill] NOT OK: {', '.join(failed)}", flush=True)
    return 0 if rows and all(r.ok for r in rows) else 1


if __name__ == "__main__":
    started = time.monotonic()
    code = main(sys.argv[1:])
    print(f"[drill] done in {time.monotonic() - started:.0f}s", flush=True)
    sys.exit(code)
