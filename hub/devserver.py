"""`make run`: embedded Postgres + Redis (unless DATABASE_URL / REDIS_URL), migrations, demo data,
then the Litestar app (uvicorn) and an arq worker, with a clean shutdown of everything started.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVDATA = ROOT / ".devdata"


def _say(msg: str) -> None:
    print(f"[hub] {msg}", flush=True)


def main() -> int:
    from hub.embedded import ensure_services

    os.chdir(ROOT)
    started = time.monotonic()
    services = ensure_services(DEVDATA)
    os.environ["DATABASE_URL"] = services.database_url
    os.environ["REDIS_URL"] = services.redis_url
    os.environ.setdefault("HUB_LOG_JSON", "false")
    _say(
        f"postgres: {'embedded (.devdata/pg)' if services._pg else 'DATABASE_URL'}; "
        f"redis: {'embedded (.devdata/redis) at ' + services.redis_url if services._redis else 'REDIS_URL'}"
    )

    from hub.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            _say(f"received {signal.Signals(signum).name}, shutting down")

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        from hub.migrate import migrate
        from hub.seed import seed_all

        async def prepare() -> None:
            await migrate()
            await seed_all()

        asyncio.run(prepare())
        _say("migrations applied, demo data present")
        env = dict(os.environ)
        children.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "asgi:app",
                    "--host",
                    settings.host,
                    "--port",
                    str(settings.port),
                    "--no-access-log",
                    "--timeout-graceful-shutdown",
                    "10",
                    "--ws-per-message-deflate",
                    "false",
                ],
                env=env,
                cwd=ROOT,
            )
        )
        children.append(subprocess.Popen([sys.executable, "-m", "workers"], env=env, cwd=ROOT))
        _say(
            f"serving http://{settings.host}:{settings.port}  (demo sign-in: alice@example.com / "
            f"demo-password; docs at /schema) — ready in {time.monotonic() - started:.1f}s; Ctrl-C stops"
        )
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    _say(
                        f"process {child.args[2]} exited with {child.returncode}; stopping the rest"
                    )
                    code = child.returncode or 1
                    stopping = True
            time.sleep(0.3)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        services.stop()
        _say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
