"""Demo data for `make run`: each domain contributes an idempotent `seed()`; run in order."""

from __future__ import annotations

import importlib

import structlog

log = structlog.get_logger(__name__)

# Domains append their seed module here (each exposes `async def seed() -> None`, idempotent).
SEEDERS = [
    "hub.dev.demo.accounts",
    "hub.dev.demo.marketplace",
    "hub.dev.demo.runs",
    "hub.dev.demo.web",
    "hub.dev.demo.community",
    "hub.dev.demo.market",
]


async def seed_all() -> None:
    from hub.platform import redis as hub_redis
    from hub.platform.db import close_pool, start_pool
    from hub.platform.settings import get_settings
    from hub.runs import executor
    from hub.wiring import register_domain_hooks
    from workers import realtime_publisher

    register_domain_hooks()  # the same hooks as the app's: wallets, starter credits, ...

    settings = get_settings()
    hub_redis.connect(settings.queue_redis)
    await start_pool(min_size=1, max_size=4)
    # Demo runs and chat publish as a worker does, so their channels have history when the
    # app starts (and nothing warns about a missing publisher).
    await realtime_publisher.install(settings)
    try:
        for name in SEEDERS:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name == name:
                    continue  # that domain has not landed yet
                raise
            try:
                await module.seed()
            except Exception as exc:  # noqa: BLE001 - demo data must never keep the hub down
                log.error("seed.failed", seeder=name, error=str(exc)[:300])
    finally:
        await executor.shutdown()  # the demo runs' cancel listener and flusher, before Redis goes
        await realtime_publisher.uninstall()
        await close_pool()
        await hub_redis.close()
