"""Session-wide real servers: PostgreSQL and Redis, embedded unless DATABASE_URL / REDIS_URL.

Servers start once per pytest session; tests isolate themselves by data (unique emails,
handles, channel names), never by restarting servers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.embedded import EmbeddedServices, start_postgres, start_redis

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = ROOT / ".testdata"


@pytest.fixture(scope="session")
def services() -> Iterator[EmbeddedServices]:
    """Real Postgres + Redis for this session, each test session on its own database."""
    db_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    pg = rds = None
    database = f"test_{os.getpid()}"
    if db_url:
        import asyncio

        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(db_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
                await conn.execute(f'CREATE DATABASE "{database}"')
            finally:
                await conn.close()

        asyncio.run(create())
        base, _, query = db_url.partition("?")
        db_url = base.rsplit("/", 1)[0] + f"/{database}" + (f"?{query}" if query else "")
    else:
        db_url, pg = start_postgres(TESTDATA / "pg", database)
    if not redis_url:
        redis_url, rds = start_redis(TESTDATA / f"redis-{os.getpid()}")
    svc = EmbeddedServices(database_url=db_url, redis_url=redis_url, _pg=None, _redis=rds)
    try:
        yield svc
    finally:
        svc.stop()
        if pg is not None:
            try:
                pg.psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE);')
            except Exception:  # noqa: BLE001
                pass


@pytest.fixture(scope="session")
def redis_url(services: EmbeddedServices) -> str:
    return services.redis_url


@pytest.fixture(scope="session")
def database_url(services: EmbeddedServices) -> str:
    return services.database_url
