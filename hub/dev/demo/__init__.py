"""Demo data for `make run`: each domain contributes an idempotent `seed()`; run in order."""

from __future__ import annotations

import importlib

import structlog

log = structlog.get_logger(__name__)

# Domains append their seed module here (each exposes `async def seed() -> None`, idempotent).
SEEDERS = [
    "hub.seed_accounts",
    "hub.seed_marketplace",
    "hub.seed_runs",
    "hub.seed_web",
    "hub.seed_community",
    "hub.seed_market",
]


async def seed_all() -> None:
    import hub.app  # noqa: F401 - loads every domain, so their hooks (e.g. starter credits) are registered
    from hub import redis as hub_redis
    from hub.db import close_pool, start_pool
    from hub.settings import get_settings

    hub_redis.connect(get_settings().queue_redis)
    await start_pool(min_size=1, max_size=4)
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
        await close_pool()
        await hub_redis.close()
