"""Realtime test servers: two uvicorn hub processes (tests/realtime/rt_app.py) on one Redis.

Servers start once per session; tests isolate themselves with unique channel names and users.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

TEST_CONFIG = {
    "ping_interval": 1.0,
    "pong_timeout": 1.5,
    "token_expiry_grace": 1.0,
    "connect_timeout": 3.0,
    "tick_interval": 0.2,
    "presence_ttl": 5.0,
    "presence_refresh_interval": 1.0,
    "commands_per_second": 100.0,
    "command_burst": 100,
    "max_channels_per_connection": 20,
    "max_connections_per_user": 5,
    "send_queue_max_bytes": 256 * 1024,
    "send_queue_max_messages": 5000,
    "max_frame_bytes": 64 * 1024,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubServer:
    def __init__(self, redis_url: str, config: dict) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/connection/websocket"
        env = dict(os.environ, REDIS_URL=redis_url, RT_CONFIG=json.dumps(config))
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        self.log = open(ROOT / ".testdata" / f"rt-hub-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "rt_app:app",
                "--app-dir",
                str(HERE),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub server exited: see {self.log.name}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("hub server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def hub_servers(redis_url: str) -> Iterator[tuple[HubServer, HubServer]]:
    (ROOT / ".testdata").mkdir(exist_ok=True)
    a = HubServer(redis_url, TEST_CONFIG)
    b = HubServer(redis_url, TEST_CONFIG)
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture(scope="session")
def hub(hub_servers: tuple[HubServer, HubServer]) -> HubServer:
    return hub_servers[0]


@pytest.fixture(scope="session")
def hub2(hub_servers: tuple[HubServer, HubServer]) -> HubServer:
    return hub_servers[1]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def publisher(redis: aioredis.Redis):
    """A worker-like publisher: no Engine, just a Redis client and the policy."""
    from rt_policy import make_policy

    from realtime import Publisher

    return Publisher(redis, make_policy())


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


# --- Redis Cluster: 3 masters + 3 replicas of Debian's redis-server 7, two hub processes ------


CLUSTER_CONFIG = {**TEST_CONFIG, "redis_cluster": True, "cluster_refresh_interval": 1.0}


@pytest.fixture(scope="session")
def cluster_hubs(redis_cluster: Any) -> Iterator[tuple[HubServer, HubServer]]:
    """Two hub processes on the cluster (HUB_REDIS_CLUSTER's engine setting)."""
    a = HubServer(redis_cluster.url, CLUSTER_CONFIG)
    b = HubServer(redis_cluster.url, CLUSTER_CONFIG)
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture
async def cluster_publisher(redis_cluster: Any) -> AsyncIterator[Any]:
    """A worker-like publisher on the cluster."""
    from rt_policy import make_policy

    from realtime import Publisher
    from realtime.broker import connect_redis

    client = connect_redis(redis_cluster.url, cluster=True)
    try:
        yield Publisher(client, make_policy())
    finally:
        await client.aclose()
