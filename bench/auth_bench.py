"""Sign-in under a crowd: N users signing in over a ramp, while others browse.

    .venv/bin/python bench/auth_bench.py                     # 500 users over 40 s
    .venv/bin/python bench/auth_bench.py --users 1000 --seconds 40

It starts its own stack (bench/stack.py: Redis, a fresh PostgreSQL database, one app process
as production runs it), registers the users, then signs them in on a linear ramp (the arrival
rate grows from 0 to its peak, so the last seconds are the busiest) and has each signed-in
user fetch `/me`. A browsing probe reads `/prompts` every 100 ms throughout, for what everyone
else sees meanwhile. It reports login latency p50/p95/p99, the probe's p95, failures, and the
app's resident memory before, at its peak and after. Results go to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import Stack, pct, rss_mb  # noqa: E402

PASSWORD = "bench-password-1"


async def register_all(http: Any, n: int, concurrency: int = 8) -> list[str]:
    emails: list[str] = []
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        handle = f"crowd{uuid.uuid4().hex[:12]}"
        async with sem:
            r = await http.post(
                "/auth/register",
                json={"email": f"{handle}@bench.dev", "password": PASSWORD, "handle": handle},
            )
        r.raise_for_status()
        emails.append(f"{handle}@bench.dev")

    await asyncio.gather(*(one() for _ in range(n)))
    return emails


def ramp_offsets(n: int, seconds: float) -> list[float]:
    """Start times of n arrivals whose rate grows linearly from 0 over `seconds`:
    the i-th arrival is at seconds * sqrt(i / n)."""
    return [seconds * math.sqrt((i + 1) / n) for i in range(n)]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    env = {"HUB_RATE_LIMIT_PER_MINUTE": "10000000", "HUB_LOGIN_MAX_FAILURES_PER_IP": "1000000"}
    async with Stack("bench_auth", env=env) as stack:
        limits = httpx.Limits(max_connections=2000, max_keepalive_connections=2000)
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, limits=limits) as http:
            emails = await register_all(http, args.users)
            hub_pid = stack.pids["hub"]
            await asyncio.sleep(2)
            rss_before = rss_mb(hub_pid)
            login_ms: list[float] = []
            me_ms: list[float] = []
            probe_ms: list[float] = []
            failures: dict[str, int] = {}
            rss_peak = rss_before
            done = asyncio.Event()

            async def sample_rss() -> None:
                nonlocal rss_peak
                while not done.is_set():
                    rss_peak = max(rss_peak, rss_mb(hub_pid))
                    await asyncio.sleep(0.1)

            async def probe() -> None:
                while not done.is_set():
                    t = time.perf_counter()
                    r = await http.get("/prompts", params={"limit": 20})
                    probe_ms.append((time.perf_counter() - t) * 1000)
                    if r.status_code != 200:
                        failures[f"probe {r.status_code}"] = (
                            failures.get(f"probe {r.status_code}", 0) + 1
                        )
                    await asyncio.sleep(0.1)

            async def user(email: str, at: float, t0: float) -> None:
                await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
                t = time.perf_counter()
                r = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
                login_ms.append((time.perf_counter() - t) * 1000)
                if r.status_code != 200:
                    failures[f"login {r.status_code}"] = (
                        failures.get(f"login {r.status_code}", 0) + 1
                    )
                    return
                token = r.json()["access_token"]
                t = time.perf_counter()
                r = await http.get("/me", headers={"Authorization": f"Bearer {token}"})
                me_ms.append((time.perf_counter() - t) * 1000)
                if r.status_code != 200:
                    failures[f"me {r.status_code}"] = failures.get(f"me {r.status_code}", 0) + 1

            sampler = asyncio.create_task(sample_rss())
            prober = asyncio.create_task(probe())
            t0 = time.monotonic()
            await asyncio.gather(
                *(
                    user(email, at, t0)
                    for email, at in zip(
                        emails, ramp_offsets(len(emails), args.seconds), strict=True
                    )
                )
            )
            elapsed = time.monotonic() - t0
            done.set()
            await asyncio.gather(sampler, prober)
            await asyncio.sleep(2)
            result = {
                "users": args.users,
                "ramp_s": args.seconds,
                "elapsed_s": round(elapsed, 1),
                "login_ms_p50": pct(login_ms, 0.50),
                "login_ms_p95": pct(login_ms, 0.95),
                "login_ms_p99": pct(login_ms, 0.99),
                "login_ms_max": round(max(login_ms), 1) if login_ms else None,
                "me_ms_p95": pct(me_ms, 0.95),
                "browse_ms_p95": pct(probe_ms, 0.95),
                "failures": failures,
                "hub_rss_mb_before": round(rss_before),
                "hub_rss_mb_peak": round(rss_peak),
                "hub_rss_mb_after": round(rss_mb(hub_pid)),
            }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"auth_{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result), flush=True)
    print()
    print(
        "| users / ramp | login p50/p95/p99 ms | /me p95 ms | browse p95 ms | RSS MB before/peak/after | failures |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {result['users']} / {result['ramp_s']:g} s | {result['login_ms_p50']}/"
        f"{result['login_ms_p95']}/{result['login_ms_p99']} | {result['me_ms_p95']} "
        f"| {result['browse_ms_p95']} | {result['hub_rss_mb_before']}/{result['hub_rss_mb_peak']}/"
        f"{result['hub_rss_mb_after']} | {sum(failures.values())} |"
    )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=40.0, help="length of the ramp")
    parsed = parser.parse_args()
    import uvloop

    uvloop.run(main(parsed))
