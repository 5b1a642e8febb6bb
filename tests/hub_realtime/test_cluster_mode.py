"""The hub on a Redis Cluster (HUB_REDIS_CLUSTER): the app and a worker as production runs
them, the realtime engine on the session's 3+3 cluster, the queue on a plain Redis of their
own (HUB_QUEUE_REDIS_URL), a database of their own. What the app publishes (a chat message)
and what the worker publishes (a feed item from its fan-out job) reach a signed-in
centrifuge-python client; /readyz checks the cluster."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from centrifuge import Client

from drill.servers import (
    ROOT,
    RedisServer,
    app_process,
    free_port,
    hub_env,
    migrate,
    worker_process,
)
from tests.hub_realtime.test_server_subs import ServerEvents
from tests.realtime.sdk_helpers import Recorder


@pytest.fixture(scope="module")
def clustered_hub(redis_cluster: Any, database_url: str) -> Iterator[str]:
    """An app process and a worker in cluster mode; yields the app's base URL."""
    name = f"cluster_{uuid.uuid4().hex[:8]}"
    base, _, query = database_url.partition("?")
    url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    workdir = Path(tempfile.mkdtemp(prefix="hub-clustered-", dir=ROOT / ".testdata"))
    queue = RedisServer(workdir / "queue").start()
    port = free_port()
    env = hub_env(
        url,
        redis_cluster.url,
        HUB_REDIS_CLUSTER="true",
        HUB_QUEUE_REDIS_URL=queue.url,
        HUB_PORT=str(port),
        HUB_LOG_LEVEL="WARNING",
    )
    migrate(env)
    app = app_process(env, port, workdir).start()
    worker = worker_process(env, workdir).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.stop()
        worker.stop()
        queue.stop()
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(workdir, ignore_errors=True)


async def _ready(http: httpx.AsyncClient, within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        try:
            r = await http.get("/readyz")
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the clustered hub did not become ready"
        await asyncio.sleep(0.2)


async def _register(http: httpx.AsyncClient) -> dict[str, Any]:
    handle = f"cl{uuid.uuid4().hex[:10]}"
    r = await http.post(
        "/api/v1/auth/register",
        json={
            "email": f"{handle}@example.com",
            "password": "correct horse battery",
            "handle": handle,
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return {"id": body["user"]["id"], "handle": handle, "token": body["access_token"]}


def _auth(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['token']}"}


async def test_the_hub_publishes_from_app_and_worker_through_a_redis_cluster(clustered_hub):
    async with httpx.AsyncClient(base_url=clustered_hub, timeout=15) as http:
        ready = await _ready(http)
        assert ready["checks"]["realtime_redis"] == "ok"  # the cluster, apart from the queue
        author, follower = await _register(http), await _register(http)
        r = await http.post(f"/api/v1/creators/{author['handle']}/follow", headers=_auth(follower))
        assert r.status_code == 200, r.text
        slug = f"cl-{uuid.uuid4().hex[:8]}"
        r = await http.post(
            "/api/v1/rooms", headers=_auth(author), json={"slug": slug, "title": "Cluster"}
        )
        assert r.status_code == 201, r.text

        events = ServerEvents()
        ws = clustered_hub.replace("http://", "ws://") + "/connection/websocket"
        client = Client(ws, token=follower["token"], events=events, proxy=None, timeout=5.0)
        await client.connect()
        try:
            await events.wait_for(lambda: len(events.subscribed) >= 2)  # notifications#, feed#
            chat = Recorder()
            room = client.new_subscription(f"rooms:{slug}", events=chat)
            await room.subscribe()
            await room.ready(5)

            # The app process publishes a chat message (its engine, on the cluster).
            r = await http.post(
                f"/api/v1/rooms/{slug}/messages", headers=_auth(author), json={"text": "hello"}
            )
            assert r.status_code == 201, r.text
            await chat.wait_for(
                lambda: any(d.get("type") == "room.message" for d in chat.data()), within=10
            )
            # The worker's fan-out job publishes the new prompt to the follower's feed.
            r = await http.post(
                "/api/v1/prompts",
                headers=_auth(author),
                json={
                    "title": "On a cluster",
                    "template": "Write about {{topic}}.",
                    "price_cents": 5,
                },
            )
            assert r.status_code == 201, r.text
            await events.wait_for(
                lambda: any(c == f"feed#{follower['id']}" for c, _ in events.pubs), within=20
            )
            feed = [d for c, d in events.pubs if c == f"feed#{follower['id']}"]
            assert feed[0]["type"] == "feed.item"
        finally:
            await client.disconnect()
