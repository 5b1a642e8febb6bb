"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from litestar import Controller, Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from hub.ops.schemas import Health, Readiness
from hub.platform.db import fetch
from hub.platform.redis import get_redis
from hub.platform.settings import get_settings


async def _check_postgres() -> None:
    await fetch("SELECT 1")


async def _check_redis() -> None:
    await get_redis().ping()


async def _check_realtime() -> None:
    """The realtime engine's own Redis, when it is not the queue's (a cluster): its pub/sub
    connections are up and a node answers."""
    from hub import live

    engine = live.server()
    if engine is None or not hasattr(engine, "check_redis"):
        raise RuntimeError("the realtime engine is not running")
    await engine.check_redis()


async def _check_worker() -> None:
    if not await get_redis().exists(get_settings().worker_heartbeat_key):
        raise RuntimeError("no worker heartbeat")


class OpsController(Controller):
    tags = ["operations"]
    opt = {"exclude_from_auth": True}

    @get("/healthz", summary="Liveness: the process serves requests")
    async def healthz(self) -> Health:
        return Health(status="ok")

    @get(
        "/readyz",
        summary="Readiness: Postgres, Redis (and the realtime Redis when separate) and a worker "
        "heartbeat; 503 names what is down",
    )
    async def readyz(self) -> Response[Readiness]:
        checks = {"postgres": _check_postgres, "redis": _check_redis, "worker": _check_worker}
        if get_settings().realtime_redis_separate:
            checks["realtime_redis"] = _check_realtime
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout=2.0)
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means "down"
                results[name] = f"down: {type(exc).__name__}: {exc}"[:200]
        down = [name for name, value in results.items() if value != "ok"]
        body = Readiness(status="ok" if not down else "unavailable", checks=results, down=down)
        return Response(body, status_code=HTTP_503_SERVICE_UNAVAILABLE if down else HTTP_200_OK)
