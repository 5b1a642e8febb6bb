"""One drill: 20 streaming runs watched through centrifuge-python, a chat, a fault, a verdict.

The watchers behave as docs/api.md tells clients to: each run's subscription loads its state
from `GET /runs/{id}` (output and stream position, saved together) through the SDK's
`get_state`, recovers from that position, and loads again whenever the server says the
position cannot be recovered (Redis lost the channel); `run.restarted` clears the text; a
delta of an older attempt is ignored. What they end up showing is compared with REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from centrifuge import (
    Client,
    ClientEventHandler,
    ConnectingContext,
    PublicationContext,
    StreamPosition,
    SubscribedContext,
    SubscriptionEventHandler,
)

from drill.servers import PostgresServer, RedisServer, migrate

RUNS = 20
BUYERS = 4
MAX_TOKENS = 600  # at 40 tokens/s a run streams for ~15 s, so every fault lands mid-run
TERMINAL = ("run.completed", "run.failed", "run.canceled")
SETTLE_DEADLINE = 150.0
READY_DEADLINE = 60.0


@dataclass
class Row:
    drill: str
    runs: int = RUNS
    statuses: Counter[str] = field(default_factory=Counter)
    restarted: int = 0
    stuck: int = 0
    terminal_min: int = 0
    terminal_max: int = 0
    seq_gaps: int = 0
    text_mismatch: int = 0
    reloads: int = 0
    chat_sent: int = 0
    chat_lost: int = 0
    invariants: str = "ok"
    http_5xx: int = 0
    http_503: int = 0
    conn_errors: int = 0
    ready_again: float | None = None
    worker_alive: bool = True
    #: Why SDK clients had to reconnect (close codes; 3001 = the server said "shutdown").
    reconnect_codes: Counter[int] = field(default_factory=Counter)
    #: What went wrong, in words (written to the drill's folder as details.txt).
    details: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.stuck == 0
            and self.terminal_min == self.terminal_max == 1
            and self.seq_gaps == 0
            and self.text_mismatch == 0
            and self.chat_lost == 0
            and self.invariants == "ok"
            and self.http_5xx == 0
            and self.ready_again is not None
            and self.ready_again <= 30
            and self.worker_alive
        )


class Api:
    """httpx against the drill's app, counting every status (and refused connections)."""

    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=10)
        self.statuses: Counter[int] = Counter()
        self.conn_errors = 0

    async def call(self, method: str, path: str, **kw: Any) -> httpx.Response | None:
        try:
            r = await self.http.request(method, path, **kw)
        except httpx.HTTPError:
            self.conn_errors += 1
            return None
        self.statuses[r.status_code] += 1
        return r

    async def until_ok(
        self, method: str, path: str, within: float = 30, **kw: Any
    ) -> httpx.Response:
        """Retry through 503s and refused connections (what a client is told to do)."""
        deadline = time.monotonic() + within
        while True:
            r = await self.call(method, path, **kw)
            if r is not None and r.status_code < 500:
                return r
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{method} {path} kept failing: {r.status_code if r else 'no connection'}"
                )
            await asyncio.sleep(0.2)

    async def aclose(self) -> None:
        await self.http.aclose()


@dataclass
class User:
    id: str
    handle: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register(api: Api, credits: int = 0) -> User:
    handle = f"d_{uuid.uuid4().hex[:10]}"
    r = await api.until_ok(
        "POST",
        "/api/v1/auth/register",
        json={
            "email": f"{handle}@example.com",
            "password": "correct horse battery",
            "handle": handle,
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    user = User(body["user"]["id"], handle, body["access_token"])
    if credits:
        from hub.billing.wallets import grant_credits

        await grant_credits(user.id, credits, f"drill:{uuid.uuid4()}", "Drill credits")
    return user


class RunWatch(SubscriptionEventHandler):
    """What one subscriber of a run shows, built the way docs/api.md says."""

    def __init__(self, api: Api, owner: User, run_id: str) -> None:
        self.api, self.owner, self.run_id = api, owner, run_id
        self.text = ""
        self.attempt = 1
        self.last_seq: int | None = 0
        self.gaps = 0
        self.deltas = 0
        self.loads = 0
        self.terminal_pubs = 0
        self.terminal_from_rest = False
        self.changed = asyncio.Event()
        self.events: list[str] = []

    async def get_state(self, channel: str) -> StreamPosition:
        """GET /runs/{id}: the output and the stream position it was saved with."""
        self.loads += 1
        r = await self.api.until_ok(
            "GET", f"/api/v1/runs/{self.run_id}", headers=self.owner.headers
        )
        run = r.json()
        self.text = run["output"]
        self.attempt = run["attempt"]
        self.last_seq = None  # REST does not say which seq the output ends with
        if run["status"] in ("completed", "failed", "canceled"):
            self.terminal_from_rest = True
        stream = run["stream"] or {"offset": 0, "epoch": ""}
        if not run["stream"]:
            self.text = ""  # no position yet: the whole stream will be replayed
        self.changed.set()
        return StreamPosition(offset=stream["offset"], epoch=stream["epoch"])

    async def on_publication(self, ctx: PublicationContext) -> None:
        data = ctx.pub.data
        kind = data.get("type")
        if kind in TERMINAL:
            self.terminal_pubs += 1
        elif kind == "run.restarted":
            self.attempt, self.text, self.last_seq = int(data["attempt"]), "", 0
        elif kind == "run.delta":
            attempt = int(data["attempt"])
            if attempt < self.attempt:
                return  # a restarted attempt's late delta: ignored, as documented
            if attempt > self.attempt:
                self.attempt, self.text, self.last_seq = attempt, "", 0
            seq = int(data["seq"])
            if self.last_seq is not None and seq != self.last_seq + 1:
                self.gaps += 1
                self.events.append(
                    f"gap: seq {seq} after {self.last_seq} (offset {ctx.pub.offset})"
                )
            if self.last_seq is None or seq > self.last_seq:
                self.text += data["text"]
                self.deltas += 1
            self.last_seq = seq
        self.changed.set()

    async def on_subscribed(self, ctx: SubscribedContext) -> None:
        pos = ctx.stream_position
        self.events.append(
            f"subscribed recovered={ctx.recovered} at {pos.epoch if pos else ''}:"
            f"{pos.offset if pos else ''}"
        )
        self.changed.set()

    @property
    def terminals(self) -> int:
        return self.terminal_pubs or (1 if self.terminal_from_rest else 0)


class ReconnectWatch(ClientEventHandler):
    """Counts why a client went back to connecting (after its first connect)."""

    def __init__(self, codes: Counter[int]) -> None:
        self.codes = codes
        self.connects = 0

    async def on_connecting(self, ctx: ConnectingContext) -> None:
        self.connects += 1
        if self.connects > 1:
            self.codes[ctx.code] += 1


class ChatWatch(SubscriptionEventHandler):
    def __init__(self) -> None:
        self.ids: set[str] = set()

    async def on_publication(self, ctx: PublicationContext) -> None:
        if ctx.pub.data.get("type") == "room.message":
            self.ids.add(ctx.pub.data["id"])


async def _wait(predicate: Any, within: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


async def wait_ready(base: str, within: float) -> float | None:
    """Seconds until GET /readyz answers 200, or None if it does not within `within`."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=3) as http:
        while time.monotonic() - started < within:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(base + "/readyz")).status_code == 200:
                    return round(time.monotonic() - started, 1)
            await asyncio.sleep(0.2)
    return None


def _worker_starts(workdir: Path) -> int:
    log = workdir / "worker.log"
    return log.read_text(errors="replace").count('"worker.started"') if log.exists() else 0


async def _inject(
    name: str, sup: Any, pg: PostgresServer, redis: RedisServer, workdir: Path
) -> float | None:
    """The fault. Returns when the dependency is back (or the dead process was killed), with
    how long it then took to be ready again (for a killed worker: until its successor runs,
    since the heartbeat it left behind keeps /readyz green meanwhile)."""
    if name == "worker-kill":
        before = _worker_starts(workdir)
        sup.child("worker").proc.kill()
        started = time.monotonic()
        if not await _wait(lambda: _worker_starts(workdir) > before, READY_DEADLINE):
            return None
        return round(time.monotonic() - started, 1)
    elif name == "app-kill":
        sup.child("app").proc.kill()
    elif name == "redis-pause":
        redis.pause()
        await asyncio.sleep(10)
        redis.resume()
    elif name == "redis-restart":
        redis.kill()
        await asyncio.sleep(3)
        redis.start()
    elif name == "postgres-restart":
        await asyncio.to_thread(pg.restart)
    else:
        raise ValueError(name)
    return None


async def drill(
    name: str,
    base: str,
    sup: Any,
    pg: PostgresServer,
    redis: RedisServer,
    workdir: Path,
    inject: Any = None,
) -> Row:
    """One drill against the stack at `base`; `inject()` (default: `_inject` by name) is
    the fault, returning as `_inject` does."""
    row = Row(name)
    ws = base.replace("http://", "ws://") + "/connection/websocket"
    api = Api(base)
    clients: list[Client] = []
    background: list[asyncio.Task[Any]] = []
    try:
        creator = await register(api)
        buyers = [await register(api, credits=50_000) for _ in range(BUYERS)]
        r = await api.until_ok(
            "POST",
            "/api/v1/prompts",
            headers=creator.headers,
            json={"title": f"Drill {name}", "template": "Write about {{topic}}.", "price_cents": 5},
        )
        prompt_id = r.json()["id"]
        slug = f"drill-{uuid.uuid4().hex[:8]}"
        await api.until_ok(
            "POST", "/api/v1/rooms", headers=creator.headers, json={"slug": slug, "title": "Drill"}
        )

        # Subscribers: one SDK client per buyer (its runs), one for the room.
        sdk: dict[str, Client] = {}
        for user in [creator, *buyers]:
            client = Client(
                ws,
                token=user.token,
                timeout=5.0,
                proxy=None,
                max_reconnect_delay=2.0,
                events=ReconnectWatch(row.reconnect_codes),
            )
            await client.connect()
            sdk[user.id] = client
            clients.append(client)
        chat = ChatWatch()
        room_sub = sdk[creator.id].new_subscription(f"rooms:{slug}", events=chat)
        await room_sub.subscribe()

        watches: list[RunWatch] = []
        for i in range(RUNS):
            buyer = buyers[i % BUYERS]
            r = await api.until_ok(
                "POST",
                f"/api/v1/prompts/{prompt_id}/runs",
                headers={**buyer.headers, "Idempotency-Key": str(uuid.uuid4())},
                json={"inputs": {"topic": f"drill {i}"}, "max_tokens": MAX_TOKENS},
            )
            assert r.status_code == 202, r.text
            watch = RunWatch(api, buyer, r.json()["id"])
            sub = sdk[buyer.id].new_subscription(
                r.json()["channel"], events=watch, get_state=watch.get_state
            )
            await sub.subscribe()
            watches.append(watch)
        if not await _wait(lambda: all(w.deltas > 0 for w in watches), 60):
            raise RuntimeError("the runs did not start streaming")

        # Chat and plain REST traffic all along.
        sent: list[str] = []
        stop = asyncio.Event()

        async def chatter() -> None:
            speakers = [creator, buyers[0]]
            n = 0
            while not stop.is_set():
                who = speakers[n % 2]
                r = await api.call(
                    "POST",
                    f"/api/v1/rooms/{slug}/messages",
                    headers=who.headers,
                    json={"text": f"message {n} from {who.handle}"},
                )
                if r is not None and r.status_code == 201:
                    sent.append(r.json()["id"])
                n += 1
                await asyncio.sleep(0.5)

        async def prober() -> None:
            while not stop.is_set():
                await api.call("GET", "/api/v1/prompts")
                await api.call("GET", "/api/v1/me", headers=buyers[1].headers)
                await asyncio.sleep(0.25)

        background = [asyncio.create_task(chatter()), asyncio.create_task(prober())]
        await asyncio.sleep(1.0)

        if inject is not None:
            successor = await inject()
        else:
            successor = await _inject(name, sup, pg, redis, workdir)
        row.ready_again = await wait_ready(base, READY_DEADLINE)
        if name == "worker-kill":
            row.ready_again = successor

        # Every run to a terminal state (REST), then its subscriber to its terminal event.
        finals: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + SETTLE_DEADLINE
        for w in watches:
            while time.monotonic() < deadline:
                r = await api.call("GET", f"/api/v1/runs/{w.run_id}", headers=w.owner.headers)
                if (
                    r is not None
                    and r.status_code == 200
                    and r.json()["status"]
                    in (
                        "completed",
                        "failed",
                        "canceled",
                    )
                ):
                    finals[w.run_id] = r.json()
                    break
                await asyncio.sleep(0.25)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*background, return_exceptions=True)
        await _wait(lambda: all(w.terminals >= 1 for w in watches if w.run_id in finals), 15)

        row.stuck = RUNS - len(finals)
        for run in finals.values():
            row.statuses[run["status"]] += 1
            row.restarted += run["attempt"] > 1
        counts = [w.terminals for w in watches if w.run_id in finals] or [0]
        row.terminal_min, row.terminal_max = min(counts), max(counts)
        row.seq_gaps = sum(w.gaps for w in watches)
        row.text_mismatch = sum(
            1 for w in watches if w.run_id in finals and w.text != finals[w.run_id]["output"]
        )
        row.reloads = sum(max(0, w.loads - 1) for w in watches)
        for w in watches:
            if w.gaps or (w.run_id in finals and w.terminals != 1):
                row.details.append(
                    f"run {w.run_id}: terminals {w.terminals}, loads {w.loads}: "
                    + "; ".join(w.events[-12:])
                )

        # Chat: every accepted message is saved, and its subscriber got it (live or history).
        saved: set[str] = set()
        cursor = None
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            r = await api.until_ok("GET", f"/api/v1/rooms/{slug}/messages", params=params)
            page = r.json()
            saved |= {m["id"] for m in page["items"]}
            cursor = page.get("next_cursor")
            if not cursor:
                break
        with contextlib.suppress(Exception):
            history = await sdk[creator.id].history(f"rooms:{slug}", limit=-1)
            chat.ids |= {
                p.data["id"] for p in history.publications if p.data.get("type") == "room.message"
            }
        row.chat_sent = len(sent)
        lost = [m for m in sent if m not in saved or m not in chat.ids]
        row.chat_lost = len(lost)
        for m in lost:
            row.details.append(
                f"chat {m}: saved {m in saved}, received or in history {m in chat.ids}"
            )
    except Exception as exc:  # noqa: BLE001 - a drill that could not finish says why
        row.invariants = f"drill error: {type(exc).__name__}: {exc}"[:120]
        row.stuck = row.stuck or RUNS
    finally:
        for task in background:
            task.cancel()
        for client in clients:
            with contextlib.suppress(Exception):
                await client.disconnect()
        row.http_5xx = sum(n for code, n in api.statuses.items() if code >= 500 and code != 503)
        row.http_503 = api.statuses.get(503, 0)
        row.conn_errors = api.conn_errors
        await api.aclose()
    from hub.platform.outages import outage_of
    from tests.billing.invariants import assert_ledger_invariants

    for attempt in range(10):
        try:
            await assert_ledger_invariants()
            break
        except Exception as exc:  # noqa: BLE001
            if outage_of(exc) is not None and attempt < 9:
                await asyncio.sleep(1.0)  # this process's pool meets the restarted Postgres
                continue
            if row.invariants == "ok":
                row.invariants = f"FAILED: {exc}"[:120]
            break
    worker = sup.child("worker")
    row.worker_alive = worker.proc is not None and worker.proc.poll() is None
    return row


async def run_drills(
    names: list[str],
    pg: PostgresServer,
    redis: RedisServer,
    env: dict[str, str],
    port: int,
    workdir: Path,
) -> list[Row]:
    from hub.dev.server import Supervisor
    from hub.platform.db import close_pool, start_pool

    await asyncio.to_thread(migrate, env)
    await start_pool(min_size=0, max_size=4)
    base = f"http://127.0.0.1:{port}"
    sup = Supervisor("127.0.0.1", port, env, log_dir=workdir)
    sup.start()

    async def keep() -> None:
        while True:
            sup.check()
            await asyncio.sleep(0.2)

    keeper = asyncio.create_task(keep())
    rows: list[Row] = []
    try:
        if await wait_ready(base, 60) is None:
            raise RuntimeError(f"the hub did not become ready; see {workdir}")
        for name in names:
            print(f"[drill] {name} ...", flush=True)
            started = time.monotonic()
            row = await drill(name, base, sup, pg, redis, workdir)
            print(
                f"[drill] {name}: {'ok' if row.ok else 'NOT OK'} in {time.monotonic() - started:.0f}s",
                flush=True,
            )
            rows.append(row)
            await wait_ready(base, READY_DEADLINE)
    finally:
        keeper.cancel()
        await asyncio.to_thread(sup.stop)
        await close_pool()
    return rows


def render(rows: list[Row]) -> str:
    head = (
        "| drill | runs finished (completed/failed/canceled) | restarted | stuck "
        "| terminal events per run "
        "| seq gaps | text ≠ REST | reloads from REST | chat sent / lost | money invariants "
        "| 5xx other than 503 | 503s | refused connections | ready again (s) | worker alive |"
    )
    sep = "|" + "---|" * 15
    lines = [head, sep]
    for r in rows:
        finished = sum(r.statuses.values())
        split = "/".join(str(r.statuses.get(k, 0)) for k in ("completed", "failed", "canceled"))
        terminals = (
            str(r.terminal_min)
            if r.terminal_min == r.terminal_max
            else f"{r.terminal_min}–{r.terminal_max}"
        )
        lines.append(
            f"| {r.drill} | {finished} ({split}) | {r.restarted} | {r.stuck} | {terminals} "
            f"| {r.seq_gaps} "
            f"| {r.text_mismatch} | {r.reloads} | {r.chat_sent} / {r.chat_lost} | {r.invariants} "
            f"| {r.http_5xx} | {r.http_503} | {r.conn_errors} "
            f"| {r.ready_again if r.ready_again is not None else 'no'} | {'yes' if r.worker_alive else 'NO'} |"
        )
    return "\n".join(lines)
