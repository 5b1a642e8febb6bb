"""Chat benchmark: messages posted to one room as fast as a given concurrency allows.

    .venv/bin/python bench/chat_bench.py                       # 20 posters, 8 in flight, 10 s
    .venv/bin/python bench/chat_bench.py --inflight 32 --seconds 15 --listeners 200

It starts its own stack (bench/stack.py: Redis, a fresh PostgreSQL database, one app process
as production runs it, one worker for the outbox relay), registers `--posters` users and a
room, opens `--listeners` websockets subscribed to the room (raw Centrifuge JSON), then posts
`POST /rooms/{slug}/messages` from the posters round robin with `--inflight` requests in
flight for `--seconds`. Chat limits are lifted for the bench (HUB_CHAT_MESSAGES_PER_*).

It reports messages accepted/s, POST latency p50/p95/p99, delivery latency (POST sent ->
every listener has it) p50/p99, messages lost (accepted but not received by a listener),
and the CPU of the app, PostgreSQL, Redis and the worker per message: the figure
docs/scaling.md multiplies out. Loopback only; everything it starts is stopped at the end.
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

from bench.runs_bench import proc_cpu, register, tree_cpu  # noqa: E402
from bench.stack import Stack, pct  # noqa: E402


class Listener:
    """One websocket subscribed to the room; records when each message id arrived."""

    def __init__(self, seen: dict[str, list[float]]) -> None:
        self.seen = seen
        self.ws: Any = None
        self.task: asyncio.Task[None] | None = None

    async def open(self, url: str, token: str, channel: str) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(url, max_size=None, compression=None, proxy=None)
        await self.ws.send(
            json.dumps({"id": 1, "connect": {"token": token}})
            + "\n"
            + json.dumps({"id": 2, "subscribe": {"channel": channel}})
        )
        got = 0
        while got < 2:
            for line in (await self.ws.recv()).split("\n"):
                msg = json.loads(line)
                if "error" in msg:
                    raise RuntimeError(f"refused: {msg}")
                got += "id" in msg
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        async for frame in self.ws:
            now = time.time()
            for line in frame.split("\n"):
                if line == "{}":
                    await self.ws.send("{}")
                    continue
                pub = json.loads(line).get("push", {}).get("pub")
                if pub and pub["data"].get("type") == "room.message":
                    self.seen.setdefault(pub["data"]["id"], []).append(now)

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
        await self.ws.close()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    env = {
        "HUB_RATE_LIMIT_PER_MINUTE": "100000000",
        "HUB_CHAT_MESSAGES_PER_ROOM": "100000000",
        "HUB_CHAT_MESSAGES_PER_USER": "100000000",
        "HUB_LOGIN_MAX_FAILURES_PER_IP": "100000",
    }
    async with Stack("bench_chat", env=env, workers=1) as stack:
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
            users = [await register(http, "chat") for _ in range(args.posters)]
            owner = users[0]
            slug = f"bench-{uuid.uuid4().hex[:8]}"
            r = await http.post(
                "/rooms",
                json={"slug": slug, "title": "Bench"},
                headers={"Authorization": f"Bearer {owner['access_token']}"},
            )
            r.raise_for_status()
            seen: dict[str, list[float]] = {}
            listeners = []
            for i in range(args.listeners):
                listener = Listener(seen)
                await listener.open(
                    stack.ws_url, users[i % len(users)]["access_token"], f"rooms:{slug}"
                )
                listeners.append(listener)
            sent: dict[str, float] = {}
            post_ms: list[float] = []
            failures = 0
            pids = stack.pids
            names = [n for n in pids if n != "redis"]
            cpu0 = {n: tree_cpu(pids[n]) if n == "postgres" else proc_cpu(pids[n]) for n in names}
            cpu0["redis"] = proc_cpu(pids["redis"])
            t0 = time.monotonic()
            deadline = t0 + args.seconds
            counter = 0

            async def poster() -> None:
                nonlocal counter, failures
                while time.monotonic() < deadline:
                    counter += 1
                    user = users[counter % len(users)]
                    started = time.time()
                    r = await http.post(
                        f"/rooms/{slug}/messages",
                        json={"text": f"message {counter}"},
                        headers={"Authorization": f"Bearer {user['access_token']}"},
                    )
                    if r.status_code == 201:
                        sent[r.json()["id"]] = started
                        post_ms.append((time.time() - started) * 1000)
                    else:
                        failures += 1

            await asyncio.gather(*(poster() for _ in range(args.inflight)))
            posting = time.monotonic() - t0
            settle = time.monotonic() + 15
            while time.monotonic() < settle and any(  # noqa: ASYNC110 - polling records
                len(seen.get(m, ())) < len(listeners) for m in sent
            ):
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - t0
            cpu = {n: (tree_cpu(pids[n]) if n == "postgres" else proc_cpu(pids[n])) for n in names}
            cpu["redis"] = proc_cpu(pids["redis"])
            delivery = [
                (max(seen[m]) - started) * 1000
                for m, started in sent.items()
                if len(seen.get(m, ())) == len(listeners)
            ]
            lost = sum(1 for m in sent if len(seen.get(m, ())) < len(listeners))
            for listener in listeners:
                await listener.close()
    n = len(sent)
    result = {
        "posters": args.posters,
        "inflight": args.inflight,
        "listeners": args.listeners,
        "accepted": n,
        "accepted_per_s": round(n / posting, 1),
        "failures": failures,
        "post_ms": [pct(post_ms, 0.5), pct(post_ms, 0.95), pct(post_ms, 0.99)],
        "delivery_ms": [pct(delivery, 0.5), pct(delivery, 0.99)],
        "lost": lost,
        "cpu_ms_per_message": {k: round((cpu[k] - cpu0[k]) * 1000 / max(1, n), 2) for k in cpu},
        "cpu_core_share": {k: round((cpu[k] - cpu0[k]) / elapsed, 2) for k in cpu},
        "load_average": os.getloadavg()[0],
    }
    return result


def cli() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--posters", type=int, default=20, help="users posting, round robin")
    parser.add_argument("--inflight", type=int, default=8, help="POSTs in flight")
    parser.add_argument("--listeners", type=int, default=50, help="websocket subscribers")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    result = asyncio.run(main(args))
    print(json.dumps(result, indent=1))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"chat_{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    cli()
