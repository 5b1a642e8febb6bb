"""Hub processes behind a real load balancer: the repository's nginx config
(deploy/nginx/nginx.conf, the file docker compose's `scale` profile mounts) run by Debian's
nginx in front of three hub processes, no sticky sessions. centrifuge-python clients connect
through it; one process is killed, or drained with SIGTERM, while publications stream.

Skipped, with the reason, where nginx is not installed (`apt-get install nginx`; .ci/run
installs it).
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from centrifuge import PublicationContext, SubscribedContext, SubscriptionEventHandler
from conftest import ROOT, TEST_CONFIG, HubServer
from sdk_helpers import ClientEvents, make_client

CLIENTS = 12


@pytest.fixture
def balanced(redis_url: str) -> Iterator[tuple[Any, list[HubServer]]]:
    """nginx in front of three fresh hub processes (each test kills or drains one)."""
    from drill.servers import NginxServer, nginx_binary

    if nginx_binary() is None:
        pytest.skip("the load-balancer tests need nginx (apt-get install nginx)")
    hubs = [HubServer(redis_url, TEST_CONFIG) for _ in range(3)]
    workdir = Path(tempfile.mkdtemp(prefix="hub-nginx-", dir=ROOT / ".testdata"))
    lb = NginxServer(workdir, [h.port for h in hubs])
    try:
        lb.start()
        yield lb, hubs
    finally:
        lb.stop()
        for hub in hubs:
            if hub.proc.poll() is None:
                hub.stop()
            else:
                hub.log.close()


class Stream(SubscriptionEventHandler):
    def __init__(self) -> None:
        self.offsets: list[int] = []
        self.subscribed: list[SubscribedContext] = []

    async def on_publication(self, ctx: PublicationContext) -> None:
        self.offsets.append(ctx.pub.offset)

    async def on_subscribed(self, ctx: SubscribedContext) -> None:
        self.subscribed.append(ctx)


async def _wait(predicate: Any, within: float) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _through_the_balancer(lb: Any, channel: str) -> list[tuple[Any, Stream]]:
    clients = []
    for _ in range(CLIENTS):
        client = make_client(lb.ws_url, min_reconnect_delay=0.1, max_reconnect_delay=1.0)
        await client.connect()
        stream = Stream()
        sub = client.new_subscription(channel, events=stream)
        await sub.subscribe()
        await sub.ready(5)
        clients.append((client, stream))
    return clients


async def _stream_and_fault(
    lb: Any, hubs: list[HubServer], publisher: Any, channel: str, fault: Any
) -> tuple[list[tuple[Any, Stream]], int, Counter[int]]:
    """Publish 40/s for 3 s while REST requests go through the balancer; `fault()` after
    one second. Returns the clients, how many publications were made, and the statuses the
    REST requests got."""
    clients = await _through_the_balancer(lb, channel)
    # least_conn spreads the 12 connections over the three processes.
    assert all(h.proc.poll() is None for h in hubs)
    published = 0
    statuses: Counter[int] = Counter()
    stop = asyncio.Event()

    async def pump() -> None:
        nonlocal published
        while not stop.is_set():
            await publisher.publish(channel, {"n": published + 1})
            published += 1
            await asyncio.sleep(0.025)

    async def rest() -> None:
        async with httpx.AsyncClient(base_url=lb.url, timeout=10) as http:
            while not stop.is_set():
                statuses[(await http.get("/api/nothing-here")).status_code] += 1
                await asyncio.sleep(0.02)

    tasks = [asyncio.create_task(pump()), asyncio.create_task(rest())]
    await asyncio.sleep(1.0)
    await fault()
    await asyncio.sleep(2.0)
    stop.set()
    await asyncio.gather(*tasks)
    await _wait(lambda: all(len(s.offsets) >= published for _, s in clients), within=20)
    return clients, published, statuses


def _affected(clients: list[tuple[Any, Stream]]) -> list[tuple[Any, Stream]]:
    """The clients that had to reconnect (the first `connecting` is connect() itself)."""
    return [(c, s) for c, s in clients if len(c.test_events.connecting) > 1]


async def test_killed_process_its_clients_reconnect_through_the_balancer_and_recover(
    balanced, publisher, uid
):
    lb, hubs = balanced
    channel = f"public:lb{uid}"
    victim = hubs[1]

    async def kill() -> None:
        os.kill(victim.proc.pid, signal.SIGKILL)

    clients, published, statuses = await _stream_and_fault(lb, hubs, publisher, channel, kill)
    affected = _affected(clients)
    assert 1 <= len(affected) < CLIENTS  # the killed process's share, and only that
    for _client, stream in clients:
        assert stream.offsets == list(range(1, published + 1))  # no gap, no duplicate
    for _client, stream in affected:
        assert len(stream.subscribed) == 2 and stream.subscribed[1].recovered
    assert statuses[502] == 0 and statuses[504] == 0  # REST went to the other processes
    print(
        f"\nkill -9: {len(affected)} of {CLIENTS} clients reconnected through nginx, "
        f"{published} publications, every client got all of them once; REST: {dict(statuses)}"
    )
    for client, _ in clients:
        await client.disconnect()


async def test_sigterm_drains_with_3001_first_and_clients_recover_elsewhere(
    balanced, publisher, uid
):
    lb, hubs = balanced
    channel = f"public:drain{uid}"
    victim = hubs[0]

    async def drain() -> None:
        victim.proc.send_signal(signal.SIGTERM)

    clients, published, statuses = await _stream_and_fault(lb, hubs, publisher, channel, drain)
    await asyncio.to_thread(victim.proc.wait, 10)
    affected = _affected(clients)
    assert 1 <= len(affected) < CLIENTS
    for _client, stream in clients:
        assert stream.offsets == list(range(1, published + 1))
    codes = Counter(client.test_events.connecting[1].code for client, _ in affected)
    assert codes == {3001: len(affected)}  # "shutdown" first: never a dropped socket or 1012
    for _client, stream in affected:
        assert stream.subscribed[-1].recovered
    assert statuses[502] == 0 and statuses[504] == 0
    print(
        f"\nSIGTERM: {len(affected)} of {CLIENTS} clients told 3001 and recovered through "
        f"nginx on another process; {published} publications; REST: {dict(statuses)}"
    )
    for client, _ in clients:
        await client.disconnect()


def test_the_compose_balancer_config_is_valid_nginx(tmp_path):
    """The exact file docker compose mounts passes `nginx -t` (with loopback upstreams), and
    compose's balancer sends traffic to every app process of the scale profile."""
    import yaml

    from drill.servers import NGINX_CONF, NginxServer, nginx_binary

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    apps = sorted(n for n, s in services.items() if "build" in s and "command" not in s)
    assert apps == ["app", "app2", "app3"]
    upstreams = (NGINX_CONF.parent / "hub-upstreams.conf").read_text()
    assert (
        sorted(
            line.split()[1].split(":")[0]
            for line in upstreams.splitlines()
            if line.startswith("server")
        )
        == apps
    )
    mounts = {v.split(":")[1] for v in services["lb"]["volumes"]}
    assert mounts == {
        f"/etc/nginx/{f}" for f in ("nginx.conf", "hub-upstreams.conf", "hub-listen.conf")
    }
    if nginx_binary() is None:
        pytest.skip("needs nginx (apt-get install nginx)")
    assert "test is successful" in NginxServer(tmp_path, [8001, 8002, 8003]).check()


assert ClientEvents  # the events every make_client() client records (test_events)
