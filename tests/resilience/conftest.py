"""Fault tests: a hub stack of its own (app and worker processes, a Redis the test kills,
pauses and restarts, a database of its own) so no other test ever sees the faults.

The shared session servers are never touched: the stack's Redis is a separate redis-server
on its own port, and its database is a separate database (migrated from empty) in the
session's PostgreSQL cluster, so the session worker's reaper never sees these runs.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from drill.servers import (
    ROOT,
    HubProcess,
    PostgresServer,
    RedisServer,
    app_process,
    free_port,
    hub_env,
    migrate,
    worker_process,
)

FAST_RUNS = {
    "HUB_DEMO_TOKENS_PER_SECOND": "200",
    "HUB_RUN_STALE_SECONDS": "6",
}


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def fault_database(hub_env: dict[str, str]) -> Iterator[str]:
    """A database of the fault tests' own, migrated from empty by `python -m hub.platform.migrate`."""
    name = f"faults_{uuid.uuid4().hex[:8]}"
    session_url = hub_env["DATABASE_URL"]

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(session_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = _with_database(session_url, name)
    env = {**hub_env, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    migrate(env)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class Stack:
    """The fault stack: its Redis, app and worker, and HTTP helpers against the app."""

    def __init__(
        self,
        redis: RedisServer,
        app: HubProcess,
        worker: HubProcess,
        port: int,
        env: dict[str, str],
    ):
        self.redis, self.app, self.worker, self.env = redis, app, worker, env
        self.mailbox: Any = None  # the session's SMTP server, which the stack mails
        self.pg: PostgresServer | None = None  # a PostgreSQL of the stack's own, if any
        self.base = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}/connection/websocket"

    def logs(self) -> str:
        return f"--- app ---\n{self.app.log()[-4000:]}\n--- worker ---\n{self.worker.log()[-4000:]}"

    async def wait_log(self, proc: HubProcess, text: str, within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        while text not in proc.log():
            assert proc.alive(), f"{proc.name} died\n{self.logs()}"
            assert time.monotonic() < deadline, f"{text!r} not in {proc.name} log\n{self.logs()}"
            await asyncio.sleep(0.05)

    async def offline(self, action: str, **args: Any) -> dict[str, Any]:
        """tests.resilience.offline: a domain action committed in a process of its own."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.resilience.offline",
            action,
            json.dumps(args),
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()[-3000:]
        return json.loads(out.decode().strip().splitlines()[-1])

    async def wait_ready(self, within: float = 30.0) -> dict[str, Any]:
        """Until GET /readyz says 200 (Postgres, Redis and a worker heartbeat)."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                try:
                    r = await http.get(self.base + "/readyz")
                    if r.status_code == 200:
                        return r.json()
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"not ready after {within}s\n{self.logs()}"
                await asyncio.sleep(0.1)


@pytest_asyncio.fixture
async def stack(fault_database: str, tmp_path: Path, mailbox: Any) -> AsyncIterator[Stack]:
    redis = RedisServer(tmp_path / "redis").start()
    port = free_port()
    # The stack mails the session's SMTP server (the register helper verifies through it).
    env = hub_env(fault_database, redis.url, HUB_SMTP_URL=mailbox.url, **FAST_RUNS)
    app = app_process(env, port, tmp_path)
    worker = worker_process(env, tmp_path)
    s = Stack(redis, app, worker, port, env)
    s.mailbox = mailbox
    try:
        app.start()
        worker.start()
        await s.wait_ready()
        yield s
    finally:
        worker.stop()
        app.stop()
        redis.stop()


@pytest_asyncio.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base + "/api/v1", timeout=10) as c:
        c.mailbox = stack.mailbox  # type: ignore[attr-defined] - helpers.register verifies through it
        yield c


@pytest_asyncio.fixture
async def pg_stack(tmp_path: Path, mailbox: Any) -> AsyncIterator[Stack]:
    """A stack with a PostgreSQL of its own too (initdb'd and migrated here), for tests that
    stop and start Postgres."""
    pg = PostgresServer(tmp_path / "pg").start()
    redis = RedisServer(tmp_path / "redis").start()
    try:
        database_url = pg.create_database("hub")
        env = hub_env(database_url, redis.url, HUB_SMTP_URL=mailbox.url, **FAST_RUNS)
        await asyncio.to_thread(migrate, env)
        port = free_port()
        app = app_process(env, port, tmp_path)
        worker = worker_process(env, tmp_path)
        s = Stack(redis, app, worker, port, env)
        s.mailbox, s.pg = mailbox, pg
        try:
            app.start()
            worker.start()
            await s.wait_ready()
            yield s
        finally:
            worker.stop()
            app.stop()
    finally:
        redis.stop()
        pg.stop("immediate")


@pytest_asyncio.fixture
async def pg_api(pg_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=pg_stack.base + "/api/v1", timeout=10) as c:
        c.mailbox = pg_stack.mailbox  # type: ignore[attr-defined]
        yield c
