"""`make run`: embedded Postgres + Redis (unless DATABASE_URL / REDIS_URL), migrations, demo data,
then the Litestar app (uvicorn) and an arq worker, with a clean shutdown of everything started.

The app and the worker are supervised: either one that dies is started again (with a backoff),
so a crash or an outage never leaves the stack half-down. `make drill` uses the same supervisor.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository (hub/dev/server.py)
DEVDATA = ROOT / ".devdata"


def _say(msg: str) -> None:
    print(f"[hub] {msg}", flush=True)


class Child:
    """One supervised process: restarted with a backoff (1 s doubling to 30 s, back to 1 s
    after a minute of good health) whenever it exits while the stack is meant to run."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log: Path | None = None
    ) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.restart_at: float | None = None
        self.backoff = 1.0
        self.restarts = 0

    def start(self) -> None:
        if self.log is None:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT)
        else:
            with open(self.log, "ab") as out:
                self.proc = subprocess.Popen(
                    self.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
                )
        self.started_at = time.monotonic()
        self.restart_at = None

    def check(self) -> None:
        """Notice an exit and schedule (or do) the restart."""
        now = time.monotonic()
        if self.proc is not None and self.proc.poll() is not None and self.restart_at is None:
            if now - self.started_at > 60:
                self.backoff = 1.0
            if self.log is None:
                _say(
                    f"{self.name} exited with {self.proc.returncode}; "
                    f"restarting in {self.backoff:.0f}s"
                )
            self.restart_at = now + self.backoff
            self.backoff = min(self.backoff * 2, 30.0)
        if self.restart_at is not None and now >= self.restart_at:
            self.restarts += 1
            self.start()

    def stop(self, deadline: float) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def app_argv(host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "asgi:app",
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "10",
        "--ws-per-message-deflate",
        "false",
        # Client IPs: the app trusts X-Forwarded-For only from HUB_TRUSTED_PROXIES
        # (hub/platform/client_ip.py); uvicorn must not rewrite them before it.
        "--no-proxy-headers",
    ]


def worker_argv() -> list[str]:
    return [sys.executable, "-m", "workers"]


class Supervisor:
    """The app and a worker, each restarted when it dies, until `stop()`."""

    def __init__(
        self, host: str, port: int, env: dict[str, str], log_dir: Path | None = None
    ) -> None:
        self.children = [
            Child("app", app_argv(host, port), env, log_dir / "app.log" if log_dir else None),
            Child("worker", worker_argv(), env, log_dir / "worker.log" if log_dir else None),
        ]

    def start(self) -> None:
        for child in self.children:
            child.start()

    def check(self) -> None:
        for child in self.children:
            child.check()

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    def stop(self, grace: float = 15.0) -> None:
        deadline = time.monotonic() + grace
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in self.children:
            child.stop(deadline)


def main() -> int:
    from hub.dev.embedded import ensure_services

    os.chdir(ROOT)
    started = time.monotonic()
    cluster = os.environ.get("HUB_REDIS_CLUSTER", "").strip().lower() in ("1", "true", "yes", "on")
    if cluster and not os.environ.get("REDIS_URL"):
        _say("HUB_REDIS_CLUSTER=true needs REDIS_URL naming a node of your Redis Cluster (7+)")
        return 2
    services = ensure_services(DEVDATA)
    os.environ["DATABASE_URL"] = services.database_url
    os.environ["REDIS_URL"] = services.redis_url
    if cluster and not os.environ.get("HUB_QUEUE_REDIS_URL"):
        # The realtime engine is on the cluster; the queue and the rest need a plain Redis.
        from hub.dev.embedded import start_redis

        queue_url, services._redis = start_redis(DEVDATA / "redis")
        os.environ["HUB_QUEUE_REDIS_URL"] = queue_url
    os.environ.setdefault("HUB_LOG_JSON", "false")
    # A local reverse proxy (or `curl -H X-Forwarded-For`) may set the client IP; nobody else.
    os.environ.setdefault("HUB_TRUSTED_PROXIES", "127.0.0.1,::1")
    redis_said = "REDIS_URL" + (" (Redis Cluster)" if cluster else "")
    if services._redis is not None and not cluster:
        redis_said = f"embedded (.devdata/redis) at {services.redis_url}"
    elif services._redis is not None:
        redis_said += f", queue embedded (.devdata/redis) at {os.environ['HUB_QUEUE_REDIS_URL']}"
    elif os.environ.get("HUB_QUEUE_REDIS_URL"):
        redis_said += ", queue HUB_QUEUE_REDIS_URL"
    _say(
        f"postgres: {'embedded (.devdata/pg)' if services._pg else 'DATABASE_URL'}; "
        f"redis: {redis_said}"
    )

    from hub.platform.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    if "HUB_PUBLIC_URL" not in os.environ:  # links in mail point at this server
        os.environ["HUB_PUBLIC_URL"] = f"http://{settings.host}:{settings.port}"
        get_settings.cache_clear()
        settings = get_settings()
    supervisor: Supervisor | None = None
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            _say(f"received {signal.Signals(signum).name}, shutting down")

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        from hub.dev.demo import seed_all
        from hub.platform.migrate import migrate

        async def prepare() -> None:
            await migrate()
            await seed_all()

        asyncio.run(prepare())
        _say("migrations applied, demo data present")
        supervisor = Supervisor(settings.host, settings.port, dict(os.environ))
        supervisor.start()
        _say(
            f"serving http://{settings.host}:{settings.port}  (demo sign-in: alice@example.com / "
            f"demo-password; docs at /schema) — ready in {time.monotonic() - started:.1f}s; Ctrl-C stops"
        )
        while not stopping:
            supervisor.check()
            time.sleep(0.3)
    finally:
        if supervisor is not None:
            supervisor.stop()
        services.stop()
        _say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
