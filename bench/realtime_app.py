"""The hub-like server the realtime fan-out benchmark runs: a minimal Litestar app with the
realtime Engine, tuned as the hub should be (gc.freeze() after start-up, higher gen0
threshold), plus /bench/* endpoints reporting RSS, CPU and garbage-collection pauses.

    REDIS_URL=... taskset -c 0 python -m uvicorn realtime_app:app --app-dir bench \
        --ws-per-message-deflate false

BENCH_CLUSTER=1: REDIS_URL names a node of a Redis Cluster (sharded pub/sub).
"""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import time
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, get

from realtime import (
    ANONYMOUS,
    Credentials,
    Engine,
    EngineConfig,
    NamespaceOptions,
    RealtimeASGI,
    SimplePolicy,
    http_routes,
    websocket_route,
)


class Anonymous:
    async def authenticate(self, token: str | None) -> Credentials:
        return ANONYMOUS


policy = SimplePolicy({"bench": NamespaceOptions(history_size=100, history_ttl_seconds=300)})
engine = Engine(
    os.environ["REDIS_URL"],
    policy,
    Anonymous(),
    EngineConfig(redis_cluster=os.environ.get("BENCH_CLUSTER") == "1"),
)


class GcPauses:
    def __init__(self) -> None:
        self.reset()
        gc.callbacks.append(self.callback)

    def reset(self) -> None:
        self.started = 0.0
        self.pauses: list[tuple[int, float]] = []

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        elif self.started:
            self.pauses.append((info["generation"], time.perf_counter() - self.started))


pauses = GcPauses()


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@get("/bench/stats")
async def stats() -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    by_gen: dict[str, Any] = {}
    for gen in (0, 1, 2):
        values = [p for g, p in pauses.pauses if g == gen]
        by_gen[str(gen)] = {
            "count": len(values),
            "max_ms": round(max(values) * 1000, 2) if values else 0.0,
            "total_ms": round(sum(values) * 1000, 2),
        }
    return {
        "rss": rss_bytes(),
        "cpu": usage.ru_utime + usage.ru_stime,
        "connections": len(engine.clients),
        "gc": by_gen,
    }


@get("/bench/reset")
async def reset() -> dict[str, Any]:
    pauses.reset()
    return {}


class Trace:
    """BENCH_TRACE=1: per publication, when it reached the server (pub/sub message), when the
    fan-out flush started and ended, relative to the publisher's timestamp (ms)."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, float, float, int]] = []
        self._recv: list[float] = []

    def install(self) -> None:
        hub = engine.hub
        inner_msg = hub.on_message
        inner_flush = engine.fanout.flush

        def on_message(rchannel: bytes, payload: bytes) -> None:
            i = payload.find(b'"t":')
            if i >= 0:
                t = int(payload[i + 4 : payload.index(b",", i)])
                self._recv.append((t, time.time_ns()))
            inner_msg(rchannel, payload)

        def flush() -> None:
            start = time.time_ns()
            n = len(engine.fanout.dirty) + sum(len(g.members) for g in engine.fanout.groups)
            inner_flush()
            end = time.time_ns()
            if self._recv and n > 100:
                t0 = self._recv[0][0]
                for t, recv in self._recv:
                    self.rows.append(((recv - t) / 1e6, (start - t) / 1e6, (end - t) / 1e6, n))
                self._recv = []
                del t0

        hub.on_message = on_message
        engine.fanout.flush = flush  # type: ignore[method-assign]
        if hub.pubsub is not None:
            hub.pubsub.on_message = on_message


trace = Trace()


@get("/bench/trace")
async def get_trace() -> dict[str, Any]:
    rows = trace.rows
    trace.rows = []
    return {"rows": rows}


@get("/bench/tracemalloc/start")
async def tracemalloc_start() -> dict[str, Any]:
    """BENCH_TRACEMALLOC=<frames>: take the baseline snapshot (see bench/conn_memory.py)."""
    import tracemalloc

    gc.collect()
    global _baseline
    _baseline = tracemalloc.take_snapshot()
    return {"traced": tracemalloc.get_traced_memory()[0]}


_baseline: Any = None


@get("/bench/tracemalloc/diff")
async def tracemalloc_diff(key: str = "traceback", top: int = 40) -> dict[str, Any]:
    """What was allocated (and is still alive) since the baseline, largest first."""
    import tracemalloc

    gc.collect()
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    stats = snap.compare_to(_baseline, key)
    rows = []
    for stat in stats[:top]:
        rows.append(
            {
                "size": stat.size_diff,
                "count": stat.count_diff,
                "where": [f"{f.filename}:{f.lineno}" for f in stat.traceback],
            }
        )
    return {"total": sum(s.size_diff for s in stats), "rows": rows}


@contextlib.asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    async with engine.lifespan(app):
        # What the hub's create_app() should do once everything is imported and started:
        # move start-up objects out of the collector's view, and collect young objects less
        # often (the fan-out path allocates no cycles, so gen0 fills only with garbage).
        if os.environ.get("BENCH_TRACE"):
            trace.install()
        gc.collect()
        gc.freeze()
        if os.environ.get("BENCH_GC", "tuned") == "tuned":
            gc.set_threshold(50_000, 50, 100)
        yield


litestar_app = Litestar(
    route_handlers=[
        websocket_route(engine),
        *http_routes(engine),
        stats,
        reset,
        get_trace,
        tracemalloc_start,
        tracemalloc_diff,
    ],
    lifespan=[lifespan],
)
# The websocket endpoint served in front of Litestar (RealtimeASGI), as asgi.py serves the
# hub; BENCH_MOUNT=route: as a Litestar route instead.
app = (
    RealtimeASGI(litestar_app, engine)
    if os.environ.get("BENCH_MOUNT", "front") == "front"
    else litestar_app
)
