"""The engine on a real Redis Cluster (3 masters, 3 replicas): sharded pub/sub, two hub
processes, centrifuge-python clients, and a failover mid-stream.

The cluster and the two hub processes start once per session (tests/realtime/conftest.py);
tests isolate themselves with their own channels, spread over every shard.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio as aioredis
from centrifuge import PublicationContext, SubscribedContext, SubscriptionEventHandler
from sdk_helpers import Recorder, make_client


def spread(cluster: Any, prefix: str, per_shard: int) -> dict[str, int]:
    """Channels named `<prefix>-<i>`, `per_shard` on each master: channel -> master port."""
    masters = set(cluster.topology())
    chosen: dict[str, int] = {}
    counts = dict.fromkeys(masters, 0)
    i = 0
    while min(counts.values()) < per_shard:
        channel = f"{prefix}-{i}"
        port = cluster.master_of(f"{{{channel}}}")
        if counts[port] < per_shard:
            chosen[channel] = port
            counts[port] += 1
        i += 1
    return chosen


async def subscribe_all(server: Any, channels: list[str], token: str = "") -> tuple[Any, dict]:
    client = make_client(server.ws_url, token=token)
    await client.connect()
    recs = {}
    for channel in channels:
        rec = Recorder()
        sub = client.new_subscription(channel, events=rec)
        await sub.subscribe()
        await sub.ready(5)
        recs[channel] = rec
    return client, recs


async def test_channels_on_every_shard_reach_both_processes_through_their_shard_only(
    cluster_hubs, redis_cluster, cluster_publisher, uid
):
    a, b = cluster_hubs
    channels = spread(redis_cluster, f"public:{uid}", per_shard=2)
    names = list(channels)
    client_a, recs_a = await subscribe_all(a, names)
    client_b, recs_b = await subscribe_all(b, names)

    n_each = 10

    async def via_http(server, tag):
        async with httpx.AsyncClient() as http:
            for i in range(n_each):
                for channel in names:
                    r = await http.post(
                        f"{server.url}/publish/{channel}", json={"src": tag, "i": i}
                    )
                    r.raise_for_status()

    async def via_worker():
        for i in range(n_each):
            await cluster_publisher.publish_many([(c, {"src": "worker", "i": i}) for c in names])

    await asyncio.gather(via_http(a, "a"), via_http(b, "b"), via_worker())
    total = 3 * n_each
    for recs in (recs_a, recs_b):
        for rec in recs.values():
            await rec.wait_for(lambda rec=rec: len(rec.pubs) == total, within=10)
    for channel in names:
        got_a, got_b = recs_a[channel], recs_b[channel]
        assert got_a.offsets() == list(range(1, total + 1))
        assert got_a.pubs == got_b.pubs  # one order on both processes
        for src in ("a", "b", "worker"):
            assert [d["i"] for d in got_a.data() if d["src"] == src] == list(range(n_each))

    # Each master holds the sharded subscriptions of its own channels (both processes) and
    # none of the others: a publication travels only within its shard.
    for port in redis_cluster.topology():
        async with aioredis.Redis(port=port) as r:
            held = await r.execute_command("PUBSUB", "SHARDCHANNELS", f"hub:{{public:{uid}*")
            mine = {f"hub:{{{c}}}:pub".encode() for c, p in channels.items() if p == port}
            assert set(held) == mine
            counts = await r.execute_command("PUBSUB", "SHARDNUMSUB", *sorted(mine))
            assert counts[1::2] == [2] * len(mine)
    await client_a.disconnect()
    await client_b.disconnect()


async def test_recovery_on_the_other_process(cluster_hubs, cluster_publisher, uid):
    a, b = cluster_hubs
    channel = f"runs:{uid}"
    client = make_client(a.ws_url, token=f"rc{uid}:0")
    await client.connect()
    rec = Recorder()
    sub = client.new_subscription(channel, events=rec)
    await sub.subscribe()
    await sub.ready(5)
    await cluster_publisher.publish(channel, {"n": 0})
    await rec.wait_for(lambda: len(rec.pubs) == 1)
    await client.disconnect()
    for n in range(1, 6):
        await cluster_publisher.publish(channel, {"n": n})
    client._address = b.ws_url  # the load balancer sends the reconnect to the other process
    await client.connect()
    await rec.wait_for(lambda: len(rec.subscribed) == 2 and len(rec.pubs) == 6)
    assert rec.subscribed[1].recovered
    assert rec.data() == [{"n": n} for n in range(6)]
    await cluster_publisher.publish(channel, {"n": 6})
    await rec.wait_for(lambda: len(rec.pubs) == 7)
    await client.disconnect()


async def test_control_messages_reach_every_process(cluster_hubs, cluster_publisher, uid):
    """Server unsubscribe and disconnect travel as classic pub/sub, which the cluster
    forwards to every node: both processes act on them, whichever node they listen on."""
    a, b = cluster_hubs
    user = f"ctl{uid}"
    channel = f"members:{uid}"
    clients, recs = [], []
    for server in (a, b):
        client = make_client(server.ws_url, token=f"{user}:0")
        await client.connect()
        rec = Recorder()
        sub = client.new_subscription(channel, events=rec)
        await sub.subscribe()
        await sub.ready(5)
        clients.append(client)
        recs.append(rec)
    await cluster_publisher.unsubscribe(user, channel, 2100, "removed from the room")
    for rec in recs:
        await rec.wait_for(lambda rec=rec: len(rec.unsubscribed) == 1, within=5)
        assert rec.unsubscribed[0].code == 2100
    await cluster_publisher.disconnect_user(user)
    for client in clients:
        events = client.test_events
        await events.wait_for(lambda events=events: len(events.disconnects) == 1, within=5)
        assert events.disconnects[0].code == 3503


async def test_presence_and_join_leave_across_processes(cluster_hubs, uid):
    a, b = cluster_hubs
    channel = f"chat:{uid}"
    alice = make_client(a.ws_url, token=f"alice{uid}:0")
    bob = make_client(b.ws_url, token=f"bob{uid}:0")
    await alice.connect()
    await bob.connect()
    rec = Recorder()
    sub = alice.new_subscription(channel, events=rec, join_leave=True)
    await sub.subscribe()
    await sub.ready(5)
    await rec.wait_for(lambda: len(rec.joins) == 1)
    bob_sub = bob.new_subscription(channel)
    await bob_sub.subscribe()
    await bob_sub.ready(5)
    await rec.wait_for(lambda: len(rec.joins) == 2)
    assert rec.joins[1].user == f"bob{uid}"
    presence = await alice.presence(channel)
    assert sorted(c.user for c in presence.clients.values()) == [f"alice{uid}", f"bob{uid}"]
    await bob_sub.unsubscribe()
    await rec.wait_for(lambda: len(rec.leaves) == 1)
    await alice.disconnect()
    await bob.disconnect()


async def test_emulation_posted_to_the_other_process(cluster_hubs, cluster_publisher, uid):
    """HTTP streaming: a command POSTed to the other process reaches the connection through
    that process's own (sharded) channel."""
    a, b = cluster_hubs
    channel = f"public:{uid}"
    async with httpx.AsyncClient(timeout=10) as http:
        body = json.dumps({"id": 1, "connect": {"token": f"u{uid}:0"}})
        async with http.stream("POST", f"{a.url}/connection/http_stream", content=body) as r:
            lines = r.aiter_lines()
            connect = json.loads(await anext(lines))["connect"]
            addressed = {"node": connect["node"], "session": connect["session"]}
            cmd = {"id": 2, "subscribe": {"channel": channel}}
            r2 = await http.post(f"{b.url}/emulation", json={**addressed, "data": json.dumps(cmd)})
            assert r2.status_code == 204
            reply = json.loads(await anext(lines))
            assert reply["id"] == 2 and reply["subscribe"]["recoverable"]
            await cluster_publisher.publish(channel, {"n": 1})
            push = json.loads(await anext(lines))
            assert push == {"push": {"channel": channel, "pub": {"data": {"n": 1}, "offset": 1}}}


# --- the failover drill ------------------------------------------------------------------


@dataclass
class StreamLog(SubscriptionEventHandler):
    """One subscriber's events in the order the SDK delivered them."""

    events: list[tuple[Any, ...]] = field(default_factory=list)

    async def on_subscribed(self, ctx: SubscribedContext) -> None:
        pos = ctx.stream_position
        self.events.append(("subscribed", ctx.recovered, pos.epoch, pos.offset))

    async def on_publication(self, ctx: PublicationContext) -> None:
        self.events.append(("pub", ctx.pub.offset, ctx.pub.data["n"]))


@dataclass
class Verdict:
    resets: int = 0  # subscribes answered `recovered: false` after the first one
    recovered: int = 0  # resubscribes that recovered exactly
    gaps: list[str] = field(default_factory=list)  # what the subscriber would silently miss
    epoch: str = ""
    offset: int = 0
    received: int = 0


def judge(log: StreamLog, acked: dict[tuple[str, int], int]) -> Verdict:
    """Walk one subscriber's events: inside an epoch every publication must be the next
    offset and carry what the publisher was told it published there; a resubscribe either
    recovered exactly or said `recovered: false` (then the app reloads: a documented reset)."""
    v = Verdict()
    first = True
    for event in log.events:
        if event[0] == "subscribed":
            _, recovered, epoch, offset = event
            if first:
                first = False
                v.epoch, v.offset = epoch, offset
            elif recovered:
                v.recovered += 1
                if epoch != v.epoch:
                    v.gaps.append(f"recovered across an epoch change {v.epoch} -> {epoch}")
            else:
                v.resets += 1
                v.epoch, v.offset = epoch, offset
        else:
            _, offset, n = event
            if offset != v.offset + 1:
                v.gaps.append(f"offset {offset} after {v.offset} in epoch {v.epoch}")
            expected = acked.get((v.epoch, offset))
            if expected is not None and expected != n:
                v.gaps.append(f"offset {offset} of epoch {v.epoch} carried n={n}, not {expected}")
            v.offset = offset
            v.received += 1
    return v


async def test_failover_mid_stream_is_recovered_or_reset_never_a_silent_gap(
    cluster_hubs, redis_cluster, cluster_publisher, uid
):
    """Kill the master of one shard while publications stream to subscribers on both
    processes: its replica is promoted, subscribers of that shard's channels end in the new
    epoch having been told `recovered: false` (their app reloads), the other shards' channels
    notice nothing, and no subscriber ever misses a publication silently."""
    a, b = cluster_hubs
    channels = spread(redis_cluster, f"public:{uid}", per_shard=2)
    names = list(channels)
    target = names[0]
    doomed = channels[target]
    logs: dict[tuple[int, str], StreamLog] = {}
    clients = []
    for server in (a, b):
        client = make_client(server.ws_url, min_reconnect_delay=0.1, max_reconnect_delay=1.0)
        await client.connect()
        clients.append(client)
        for channel in names:
            log = StreamLog()
            sub = client.new_subscription(
                channel, events=log, min_resubscribe_delay=0.1, max_resubscribe_delay=1.0
            )
            await sub.subscribe()
            await sub.ready(5)
            logs[(server.port, channel)] = log

    acked: dict[tuple[str, int], int] = {}
    failed = 0
    stop = asyncio.Event()

    async def pump(channel: str) -> None:
        nonlocal failed
        n = 0
        while not stop.is_set():
            n += 1
            try:
                result = await cluster_publisher.publish(channel, {"n": n})
            except Exception:  # noqa: BLE001 - no master for the slot yet: the next one retries
                failed += 1
                await asyncio.sleep(0.05)
                continue
            acked[(result.epoch, result.offset)] = n
            await asyncio.sleep(0.02)

    pumps = [asyncio.create_task(pump(c)) for c in names]
    await asyncio.sleep(1.0)
    started = time.monotonic()
    await asyncio.to_thread(redis_cluster.node(doomed).kill)
    promoted = await asyncio.to_thread(redis_cluster.wait_failover, doomed, f"{{{target}}}")
    failover_s = time.monotonic() - started
    await asyncio.sleep(2.0)  # publications keep coming on the promoted replica
    stop.set()
    await asyncio.gather(*pumps)

    # Every subscriber reaches its channel's final position.
    probe = make_client(a.ws_url)
    await probe.connect()
    tops = {}
    for channel in names:
        top = await probe.history(channel, limit=0)
        tops[channel] = (top.epoch, top.offset)
    await probe.disconnect()
    deadline = time.monotonic() + 30
    while True:
        verdicts = {key: judge(log, acked) for key, log in logs.items()}
        if all((v.epoch, v.offset) == tops[key[1]] for key, v in verdicts.items()):
            break
        assert time.monotonic() < deadline, {k: (v.epoch, v.offset) for k, v in verdicts.items()}
        await asyncio.sleep(0.2)

    rows = []
    for (port, channel), v in sorted(verdicts.items()):
        on_failed_shard = channels[channel] == doomed
        rows.append(
            f"| {port} | {channel} | {'failed over' if on_failed_shard else 'untouched'} "
            f"| {v.received} | {v.recovered} | {v.resets} | {len(v.gaps)} |"
        )
        assert v.gaps == [], (channel, v.gaps)
        if on_failed_shard:
            # The promoted replica started a new epoch: told, not silently skipped.
            assert v.resets >= 1
            assert v.epoch != judge_first_epoch(logs[(port, channel)])
        else:
            assert v.resets == 0 and v.recovered == 0
    print(
        f"\nfailover: master :{doomed} killed, :{promoted} promoted after {failover_s:.1f} s; "
        f"{len(acked)} publications acknowledged, {failed} refused meanwhile\n"
        "| process | channel | shard | received | exact recoveries | recovered: false "
        "| silent gaps |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    for client in clients:
        await client.disconnect()
    await asyncio.to_thread(redis_cluster.restart, doomed)  # rejoins as a replica


def judge_first_epoch(log: StreamLog) -> str:
    return next(e[2] for e in log.events if e[0] == "subscribed")
