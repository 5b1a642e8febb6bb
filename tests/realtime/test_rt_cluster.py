"""Two hub processes on one Redis: ordering, recovery across processes, slow-client isolation."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import threading

import httpx
import pytest
from sdk_helpers import RawClient, Recorder, make_client

PROTOCOLS = [pytest.param(False, id="json"), pytest.param(True, id="protobuf")]


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_publications_from_everywhere_reach_both_processes_in_one_order(
    hub, hub2, publisher, uid, protobuf
):
    channel = f"runs:{uid}"
    recs = []
    clients = []
    for server in (hub, hub2):
        client = make_client(server.ws_url, protobuf=protobuf)
        await client.connect()
        rec = Recorder(protobuf)
        sub = client.new_subscription(channel, events=rec)
        await sub.subscribe()
        await sub.ready(5)
        recs.append(rec)
        clients.append(client)

    n_each = 40

    async def via_http(server, tag):
        async with httpx.AsyncClient() as http:
            for i in range(n_each):
                r = await http.post(f"{server.url}/publish/{channel}", json={"src": tag, "i": i})
                r.raise_for_status()

    async def via_worker():
        for i in range(n_each):
            await publisher.publish(channel, {"src": "worker", "i": i})

    await asyncio.gather(via_http(hub, "a"), via_http(hub2, "b"), via_worker())
    total = 3 * n_each
    for rec in recs:
        await rec.wait_for(lambda rec=rec: len(rec.pubs) == total, within=10)
    a, b = recs
    assert a.offsets() == list(range(1, total + 1))
    assert a.pubs == b.pubs
    for src in ("a", "b", "worker"):  # each publisher's own order is kept
        assert [d["i"] for d in a.data() if d["src"] == src] == list(range(n_each))
    for client in clients:
        await client.disconnect()


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_recovery_on_the_other_process(hub, hub2, publisher, uid, protobuf):
    channel = f"public:{uid}"
    client = make_client(hub.ws_url, token=f"mv{uid}:0", protobuf=protobuf)
    await client.connect()
    rec = Recorder(protobuf)
    sub = client.new_subscription(channel, events=rec)
    await sub.subscribe()
    await sub.ready(5)
    await publisher.publish(channel, {"n": 0})
    await rec.wait_for(lambda: len(rec.pubs) == 1)
    await client.disconnect()
    for n in range(1, 6):
        await publisher.publish(channel, {"n": n})
    client._address = hub2.ws_url  # the load balancer sends the reconnect elsewhere
    await client.connect()
    await rec.wait_for(lambda: len(rec.subscribed) == 2 and len(rec.pubs) == 6)
    assert rec.subscribed[1].recovered
    assert rec.data() == [{"n": n} for n in range(6)]
    await publisher.publish(channel, {"n": 6})
    await rec.wait_for(lambda: len(rec.pubs) == 7)
    await client.disconnect()


def run_slow_client(port: int, channel: str, ready: threading.Event, stop: threading.Event):
    """A client that never reads but answers pings blindly (so only the queue bound applies).

    It runs on its own event loop in a thread: the SDK client in the test's loop may hold that
    loop for a while under a burst, and must not delay this one's pongs.
    """

    async def main():
        # A small receive buffer (no autotuning) and max_queue=1: the websockets client stops
        # reading once one message is buffered, the kernel buffers fill, and the server's send
        # queue (256 KiB in the test config) overflows.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        url = f"ws://127.0.0.1:{port}/connection/websocket"
        slow = await RawClient.open(url, max_queue=1, sock=sock)
        await slow.command("connect")
        assert "subscribe" in await slow.command("subscribe", {"channel": channel})
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.3)
            await slow.send_raw("{}")
        return await slow.closed(within=20)

    return asyncio.run(main())


async def test_slow_client_is_closed_3008_and_others_get_everything(hub, publisher, uid):
    channel = f"nohist:{uid}"
    fast = make_client(hub.ws_url)
    await fast.connect()
    rec = Recorder()
    sub = fast.new_subscription(channel, events=rec)
    await sub.subscribe()
    await sub.ready(5)

    ready, stop = threading.Event(), threading.Event()
    slow = asyncio.create_task(asyncio.to_thread(run_slow_client, hub.port, channel, ready, stop))
    assert await asyncio.to_thread(ready.wait, 10)

    blob = base64.b64encode(os.urandom(3000)).decode()  # 4000 incompressible characters
    n = 2500  # ~10 MB: more than the server's socket send buffer (autotuned up to 4 MB)
    # The fast client is kept within its own queue bound (it reads, but on a busy machine a
    # Python SDK reads slower than Redis publishes): at most `window` publications (100 KB)
    # are ahead of it, while the slow client, which never reads, falls ever further behind.
    window = 25
    for i in range(n):
        await publisher.publish(channel, {"i": i, "blob": blob})
        if i % window == window - 1:
            await rec.wait_for(lambda i=i: len(rec.pubs) == i + 1, within=30)
    await rec.wait_for(lambda: len(rec.pubs) == n, within=30)
    assert len(fast.test_events.connecting) == 1 and fast.test_events.disconnects == []
    assert [d["i"] for d in rec.data()] == list(range(n))
    stop.set()
    assert await slow == (3008, "slow")
    await fast.disconnect()


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_pubsub_connection_loss_is_recovered(hub, publisher, redis, uid, protobuf):
    """Redis drops the hubs' pub/sub connections: they reconnect, reset their subscribers
    (2500) and the SDKs recover whatever was published in between."""
    channel = f"runs:{uid}"
    client = make_client(hub.ws_url, protobuf=protobuf)
    await client.connect()
    rec = Recorder(protobuf)
    sub = client.new_subscription(channel, events=rec)
    await sub.subscribe()
    await sub.ready(5)
    await publisher.publish(channel, {"n": 0})
    await rec.wait_for(lambda: len(rec.pubs) == 1)
    await redis.client_kill_filter(_type="pubsub")
    for n in range(1, 6):
        await publisher.publish(channel, {"n": n})
    await rec.wait_for(lambda: len(rec.pubs) == 6, within=10)
    assert rec.data() == [{"n": n} for n in range(6)]
    assert rec.offsets() == list(range(1, 7))
    assert len(rec.subscribed) >= 2  # reset by the server, resubscribed by the SDK
    assert all(ctx.recovered for ctx in rec.subscribed[1:])
    await client.disconnect()


def run_stalled_client(port: int, channel: str, ready: threading.Event, filled: threading.Event):
    """A client that stops reading (its socket buffers full) and never answers pings: once it
    reads again it must find its 3012 close frame behind the data, not a reset connection."""

    async def main():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        url = f"ws://127.0.0.1:{port}/connection/websocket"
        raw = await RawClient.open(url, max_queue=1, sock=sock, ping_interval=None)
        await raw.command("connect")
        assert "subscribe" in await raw.command("subscribe", {"channel": channel})
        ready.set()
        await asyncio.to_thread(filled.wait, 30)
        return await raw.closed(within=20)

    return asyncio.run(main())


async def test_stalled_client_gets_its_close_frame_when_it_reads_again(hub, publisher, uid):
    channel = f"nohist:{uid}"
    ready, filled = threading.Event(), threading.Event()
    stalled = asyncio.create_task(
        asyncio.to_thread(run_stalled_client, hub.port, channel, ready, filled)
    )
    assert await asyncio.to_thread(ready.wait, 10)
    blob = base64.b64encode(os.urandom(3000)).decode()
    for i in range(200):  # ~800 KB: more than the client's receive buffer takes
        await publisher.publish(channel, {"i": i, "blob": blob})
    # Whenever it reads again (the server has given up on its pongs by then or soon after),
    # the close frame is there: 3012, or 3008 if its queue overflowed first. Never a reset.
    await asyncio.sleep(3)
    filled.set()
    code = await stalled
    assert code in ((3012, "no pong"), (3008, "slow"))
