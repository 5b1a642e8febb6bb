"""How many money movements one PostgreSQL takes: run holds and run settlements, posted
through `hub.billing.ledger.post` (the only way money moves) by concurrent sessions.

    .venv/bin/python bench/ledger_bench.py                    # 1/8/32 sessions, 5 s each
    .venv/bin/python bench/ledger_bench.py --sessions 16 64 --seconds 10
    .venv/bin/python bench/ledger_bench.py --synchronous-commit off

A run start moves a buyer's money into a hold (two accounts of that buyer); a settlement moves
it from the hold to the creator, the platform's fee and usage accounts. Every settlement
therefore updates the same platform balance rows, each locked until its transaction commits:
that serial section, not CPU, bounds settlements per second on one database, and is what
docs/scaling.md's run arithmetic rests on. The bench measures both kinds separately
(transactions/s, latency p50/p99) for each number of concurrent sessions, with distinct buyers
so nothing else contends. PostgreSQL: pgserver in /tmp/bench_ledger/pg (fsync and
synchronous_commit as the server is configured; printed), database bench_ledger dropped at
the end; or DATABASE_URL's server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUYERS = 512


async def setup() -> tuple[Any, list[tuple[int, int]], int, dict[str, int]]:
    """Migrated database, BUYERS buyers with wallet + hold accounts, one creator."""
    from hub.billing import ledger
    from hub.platform.db import fetch

    users = await fetch(
        "INSERT INTO users (email, handle, password_hash) "
        "SELECT 'b' || g || '@bench.dev', 'lb' || g, 'x' FROM generate_series(1, $1) g "
        "RETURNING id",
        BUYERS + 1,
    )
    ids = [r["id"] for r in users]
    buyers = []
    for uid in ids[:BUYERS]:
        acc = await ledger.user_accounts(uid, ("wallet", "hold"))
        buyers.append((acc["wallet"], acc["hold"]))
    creator = (await ledger.user_accounts(ids[BUYERS], ("earnings_pending",)))["earnings_pending"]
    platform = await ledger.platform_accounts()
    # Fund every wallet once (a top-up from the platform's clearing account).
    from hub.platform.db import engine

    db = engine()
    async with db.transaction():
        await ledger.post(
            "topup",
            f"bench:{uuid.uuid4()}",
            [(w, 10_000_000) for w, _ in buyers]
            + [(platform["stripe_clearing"], -10_000_000 * len(buyers))],
        )
    return db, buyers, creator, platform


async def measure(
    kind: str,
    sessions: int,
    seconds: float,
    db: Any,
    buyers: list[tuple[int, int]],
    creator: int,
    platform: dict[str, int],
) -> dict[str, Any]:
    from hub.billing import ledger

    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def session(i: int) -> None:
        wallet, hold = buyers[i % len(buyers)]
        while time.monotonic() < deadline:
            started = time.perf_counter()
            async with db.transaction():
                if kind == "hold":
                    postings = [(wallet, -3), (hold, 3)]
                else:  # settlement: hold -> creator 2, platform fee 1 (and usage 0..)
                    postings = [
                        (wallet, -3),
                        (creator, 1),
                        (platform["platform_fees"], 1),
                        (platform["usage_revenue"], 1),
                    ]
                tx_kind = "adjustment"  # run_* kinds need a run row; same locking path
                await ledger.post(tx_kind, f"bench:{uuid.uuid4()}", postings)
            latencies.append((time.perf_counter() - started) * 1000)

    t0 = time.monotonic()
    await asyncio.gather(*(session(i) for i in range(sessions)))
    elapsed = time.monotonic() - t0
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else float("nan")

    return {
        "kind": kind,
        "sessions": sessions,
        "per_s": round(len(lat) / elapsed, 1),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
    }


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    from bench.stack import fresh_database

    name = "bench_ledger"
    url, pg = fresh_database(name)
    os.environ.update({"DATABASE_URL": url, "REDIS_URL": "redis://127.0.0.1:1/0"})
    from hub.platform.settings import get_settings

    get_settings.cache_clear()
    from hub.platform.db import close_pool, fetch, start_pool
    from hub.platform.migrate import migrate

    await migrate()
    await start_pool(min_size=0, max_size=max(args.sessions) + 4)
    results = []
    try:
        if args.synchronous_commit:
            await fetch(f"ALTER DATABASE {name} SET synchronous_commit = {args.synchronous_commit}")
            await close_pool()
            await start_pool(min_size=0, max_size=max(args.sessions) + 4)
        settings = {
            r["name"]: r["setting"]
            for r in await fetch(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync', 'synchronous_commit', 'server_version')"
            )
        }
        print(f"PostgreSQL {settings}", flush=True)
        db, buyers, creator, platform = await setup()
        for kind in ("hold", "settlement"):
            for n in args.sessions:
                r = await measure(kind, n, args.seconds, db, buyers, creator, platform)
                r.update(settings, load_average=round(os.getloadavg()[0], 1))
                results.append(r)
                print(
                    f"{kind:>10} x {n:>3} sessions: {r['per_s']:>8}/s  "
                    f"p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  (load {r['load_average']})",
                    flush=True,
                )
    finally:
        await close_pool()
        if pg is not None:
            pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);')
    return results


def cli() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--synchronous-commit", choices=["on", "off"], help="set it for the bench database"
    )
    args = parser.parse_args()
    results = asyncio.run(main(args))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"ledger_{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
        json.dumps(results, indent=1)
    )


if __name__ == "__main__":
    cli()
