"""Session-wide real servers: PostgreSQL and Redis, embedded unless DATABASE_URL / REDIS_URL.

Servers start once per pytest session; tests isolate themselves by data (unique emails,
handles, channel names), never by restarting servers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.dev.embedded import EmbeddedServices, start_postgres, start_redis
from tests.env import settings_env

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = ROOT / ".testdata"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "run_last: run after every other test of the session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`run_last` tests go to the end (stable: the rest keep their order)."""
    items.sort(key=lambda item: item.get_closest_marker("run_last") is not None)


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
def redis_cluster() -> Iterator[Any]:
    """A real Redis Cluster (3 masters + 3 replicas) on loopback ports, started once per
    session on first use (skipped, with the reason, where no redis-server 7+ is installed:
    `apt-get install redis-server`)."""
    import shutil
    import tempfile

    from drill.servers import RedisClusterServers, redis7_binary

    if redis7_binary() is None:
        pytest.skip("Redis Cluster tests need redis-server 7+ (apt-get install redis-server)")
    TESTDATA.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="hub-cluster-", dir=TESTDATA))
    cluster = RedisClusterServers(workdir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(services: EmbeddedServices) -> str:
    return services.redis_url


@pytest.fixture(scope="session")
def database_url(services: EmbeddedServices) -> str:
    return services.database_url


# --- the hub itself, served for real (uvicorn in this process, on the session loop) ---------

import asyncio  # noqa: E402
import secrets  # noqa: E402
from collections.abc import AsyncIterator, Awaitable, Callable  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import pytest_asyncio  # noqa: E402

from hub.dev.embedded import free_port  # noqa: E402

TEST_ENV = {
    "HUB_ENV": "test",
    "HUB_LOG_LEVEL": "WARNING",
    "HUB_RATE_LIMIT_PER_MINUTE": "100000",
    "HUB_LOGIN_MAX_FAILURES_PER_IP": "100000",
    "HUB_DEMO_TOKENS_PER_SECOND": "400",
    # The session's Redis is never faulted (fault tests start their own, with the production
    # timeouts): a loaded CI machine must not turn a slow answer into a 503 here.
    "HUB_REDIS_TIMEOUT_SECONDS": "5",
    # One loopback address plays the trusted load balancer (tests/accounts/test_client_ip.py).
    "HUB_TRUSTED_PROXIES": "127.0.0.2",
    "HUB_MEDIA_DIR": str(TESTDATA / "media"),
    # The recommendations cron refreshes a small batch a minute here (tests run the job with
    # their own limit), so it adds little load to the suite.
    "HUB_RECOMMENDATIONS_BATCH": "50",
}


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) the hub sends its mail to, for the whole session."""
    from tests.mailbox import Mailbox

    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="session")
def hub_env(services: EmbeddedServices, mailbox: Any) -> Iterator[dict[str, str]]:
    """Point the hub's settings at the session's servers and migrate the test database."""
    env = {
        "DATABASE_URL": services.database_url,
        "REDIS_URL": services.redis_url,
        "HUB_SMTP_URL": mailbox.url,
        **TEST_ENV,
    }
    with settings_env(env):
        from hub.platform.migrate import migrate

        asyncio.run(migrate())
        yield env


@pytest_asyncio.fixture(scope="session")
async def worker(hub_env: dict[str, str]) -> AsyncIterator[Any]:
    """The worker `python -m workers` runs, in this process (jobs, crons, heartbeat)."""
    from workers.resilient import ResilientWorker
    from workers.settings import WorkerSettings

    w = ResilientWorker(
        functions=WorkerSettings.functions,
        cron_jobs=WorkerSettings.cron_jobs,
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        redis_settings=WorkerSettings.redis_settings.__class__.from_dsn(hub_env["REDIS_URL"]),
        max_jobs=WorkerSettings.max_jobs,
        job_timeout=WorkerSettings.job_timeout,
        allow_abort_jobs=True,
        handle_signals=False,
        poll_delay=0.05,
    )
    task = asyncio.create_task(w.async_run())
    for _ in range(200):
        if w.ctx.get("worker_id"):
            break
        await asyncio.sleep(0.05)
    yield w
    await w.close()
    task.cancel()


@pytest_asyncio.fixture(scope="session")
async def hub_server(hub_env: dict[str, str], worker: Any) -> AsyncIterator[str]:
    """The real app served by uvicorn on 127.0.0.1; yields its base URL."""
    import uvicorn

    from hub.app import create_app
    from realtime.gateway import RealtimeASGI

    port = free_port()
    app = create_app()
    config = uvicorn.Config(
        RealtimeASGI(app, app.state.realtime),  # as asgi.py serves it
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        ws_per_message_deflate=False,
        proxy_headers=False,  # as the hub is served: client IPs are hub/platform/client_ip.py's job
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.025)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
def ws_url(hub_server: str) -> str:
    """The test hub's websocket endpoint (for the SDK clients)."""
    return hub_server.replace("http://", "ws://") + "/connection/websocket"


@pytest_asyncio.fixture
async def client(hub_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub_server + "/api/v1", timeout=30) as c:
        yield c


def unique(prefix: str = "u") -> str:
    return f"{prefix}{secrets.token_hex(5)}"


class Account(dict):  # type: ignore[type-arg]
    """A registered user: the register response plus convenience accessors."""

    @property
    def token(self) -> str:
        return str(self["access_token"])

    @property
    def id(self) -> str:
        return str(self["user"]["id"])

    @property
    def handle(self) -> str:
        return str(self["user"]["handle"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def register(client: httpx.AsyncClient, mailbox: Any) -> Callable[..., Awaitable[Account]]:
    """Register through the API and, unless `verify=False`, verify the address the way a
    user does: open the mail that arrived over SMTP and send its token back (which grants
    the starter credits)."""

    async def _register(verify: bool = True, **overrides: Any) -> Account:
        handle = overrides.pop("handle", None) or unique("user_")
        body = {
            "email": f"{handle}@example.com",
            "password": "correct horse battery",
            "handle": handle,
        }
        body.update(overrides)
        seen = len(mailbox.to(body["email"], "Confirm your email"))
        r = await client.post("/auth/register", json=body)
        assert r.status_code == 201, r.text
        acct = Account(r.json())
        acct["password"] = body["password"]
        acct["email"] = body["email"]
        if verify:
            mail = await mailbox.wait_for(body["email"], "Confirm your email", count=seen + 1)
            v = await client.post("/auth/verify-email", json={"token": mail.token("verify-email")})
            assert v.status_code == 200, v.text
            acct["user"] = v.json()
        return acct

    return _register
