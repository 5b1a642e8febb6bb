"""The hub-like server the realtime fan-out benchmark runs: a minimal Litestar app with the
realtime Engine, tuned as the hub should be (gc.freeze() after start-up, higher gen0
threshold), plus /bench/* endpoints reporting RSS, CPU and garbage-collection pauses.

    REDIS_URL=... taskset -c 0 python -m uvicorn realtime_app:app --app-dir bench \
        --ws-per-message-deflate false
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
    websocket_route,
)


class Anonymous:
    async def authenticate(self, token: str | None) -> Credentials:
        return ANONYMOUS


policy = SimplePolicy({"bench": NamespaceOptions(history_size=100, history_ttl_seconds=300)})
engine = Engine(os.environ["REDIS_URL"], policy, Anonymous(), EngineConfig())


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


@contextlib.asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    async with engine.lifespan(app):
        # What the hub's create_app() should do once everything is imported and started:
        # move start-up objects out of the collector's view, and collect young objects less
        # often (the fan-out path allocates no cycles, so gen0 fills only with garbage).
        gc.collect()
        gc.freeze()
        if os.environ.get("BENCH_GC", "tuned") == "tuned":
            gc.set_threshold(50_000, 50, 100)
        yield


litestar_app = Litestar(route_handlers=[websocket_route(engine), stats, reset], lifespan=[lifespan])
# BENCH_MOUNT=front: the websocket endpoint served in front of Litestar (RealtimeASGI)
app = (
    RealtimeASGI(litestar_app, engine)
    if os.environ.get("BENCH_MOUNT", "route") == "front"
    else litestar_app
)
