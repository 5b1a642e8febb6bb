"""State channels: cache recovery (the latest publication first) on live:runs and prompts:<id>,
and fossil delta compression negotiated per subscription on prompts:<id>, through the hub with
both SDKs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from centrifuge import DeltaType

from hub import live
from realtime import metrics
from tests.hub_realtime.conftest import NodeScenario, needs_node
from tests.realtime.sdk_helpers import Recorder, make_client


def _snapshot(n: int, size: int = 3000) -> dict[str, Any]:
    """A prompt-sized snapshot whose next version differs in a few places."""
    return {
        "type": "prompt.updated",
        "prompt": {
            "id": "p",
            "title": f"Version {n}",
            "description": "A long description of what this prompt does. " * (size // 46),
            "runs": n * 7,
            "tags": ["story", "ünïcödé", f"t{n}"],
        },
    }


def _deltas() -> float:
    return metrics.DELTA_PUSHES.labels("delta")._value.get()


@pytest.mark.parametrize("protobuf", [False, True], ids=["json", "protobuf"])
async def test_cache_mode_gives_the_latest_publication_first(register, ws_url, protobuf):
    user = await register()
    channel = f"prompts:{uuid.uuid4()}"
    for n in range(1, 4):
        await live.publish(channel, {"type": "prompt.live_runs", "live_runs": n})
    c = make_client(ws_url, token=user.token, protobuf=protobuf)
    await c.connect()
    rec = Recorder(protobuf)
    sub = c.new_subscription(channel, rec)
    await sub.subscribe()
    try:
        await rec.wait_for(lambda: rec.pubs)
        # No recovery asked for, yet the current state comes first (and only it).
        assert rec.pubs == [(3, {"type": "prompt.live_runs", "live_runs": 3})]
        await live.publish(channel, {"type": "prompt.live_runs", "live_runs": 4})
        await rec.wait_for(lambda: len(rec.pubs) == 2)
        # Away while three more happen: back with the latest only, recovered.
        await c.disconnect()
        for n in range(5, 8):
            await live.publish(channel, {"type": "prompt.live_runs", "live_runs": n})
        await c.connect()
        await rec.wait_for(lambda: len(rec.subscribed) == 2 and len(rec.pubs) == 3)
        assert rec.subscribed[1].recovered
        assert rec.pubs[-1] == (7, {"type": "prompt.live_runs", "live_runs": 7})
        # Up to date when it comes back: nothing is sent again.
        await c.disconnect()
        await c.connect()
        await rec.wait_for(lambda: len(rec.subscribed) == 3)
        assert rec.subscribed[2].recovered and len(rec.pubs) == 3
    finally:
        await c.disconnect()


async def test_live_runs_index_starts_with_the_latest_event(client, register, ws_url):
    """A public run's live.run_started is what a new subscriber of live:runs sees first."""
    from tests.runs.helpers import make_prompt, start, wait_run

    creator, buyer = await register(), await register()
    prompt = await make_prompt(client, creator, price_cents=5)
    r = await start(client, buyer, prompt["id"], max_tokens=5, visibility="public")
    run_id = r.json()["id"]
    await wait_run(client, buyer, run_id)
    c = make_client(ws_url)  # anonymous: live:runs is public
    await c.connect()
    rec = Recorder()
    sub = c.new_subscription("live:runs", rec)
    await sub.subscribe()
    try:
        await rec.wait_for(lambda: rec.pubs)
        assert len(rec.pubs) == 1 and rec.data()[0]["type"].startswith("live.run_")
    finally:
        await c.disconnect()


@pytest.mark.parametrize("protobuf", [False, True], ids=["json", "protobuf"])
async def test_python_sdk_fossil_delta_rebuilds_every_snapshot(register, ws_url, protobuf):
    user = await register()
    channel = f"prompts:{uuid.uuid4()}"
    c = make_client(ws_url, token=user.token, protobuf=protobuf)
    await c.connect()
    rec = Recorder(protobuf)
    sub = c.new_subscription(channel, rec, delta=DeltaType.FOSSIL)
    await sub.subscribe()
    try:
        await sub.ready(5)
        assert rec.subscribed
        before = _deltas()
        for n in range(1, 6):
            await live.publish(channel, _snapshot(n))
        await rec.wait_for(lambda: len(rec.pubs) == 5)
        assert rec.data() == [_snapshot(n) for n in range(1, 6)]
        assert _deltas() - before == 4  # the first in full, then deltas
        # A subscriber without delta on the same channel gets plain publications.
        other = make_client(ws_url, token=user.token, protobuf=protobuf)
        await other.connect()
        rec2 = Recorder(protobuf)
        plain = other.new_subscription(channel, rec2)
        await plain.subscribe()
        await rec2.wait_for(lambda: rec2.pubs)  # cache mode: the latest first
        await live.publish(channel, _snapshot(6))
        await rec.wait_for(lambda: len(rec.pubs) == 6)
        await rec2.wait_for(lambda: len(rec2.pubs) == 2)
        assert rec.data()[-1] == rec2.data()[-1] == _snapshot(6)
        await other.disconnect()
    finally:
        await c.disconnect()


@needs_node
async def test_centrifuge_js_fossil_delta_and_cache_over_websocket_and_http(register, ws_url):
    user = await register()
    variants = [
        ("json", None),
        ("protobuf", None),
        ("json", "http_stream"),
        ("protobuf", "http_stream"),
        ("json", "sse"),
    ]
    for fmt, transport in variants:
        channel = f"prompts:{uuid.uuid4()}"
        await live.publish(channel, _snapshot(0))  # the current state before subscribing
        snapshots = [_snapshot(n) for n in range(1, 5)]
        before = _deltas()
        result = await _run_delta(ws_url, user, channel, fmt, transport, snapshots)
        assert result["pubs"] == [_snapshot(0), *snapshots], (fmt, transport)
        assert result["subscribed"][0]["delta"] is True
        assert _deltas() - before == len(snapshots), (fmt, transport)


async def _run_delta(ws_url, user, channel, fmt, transport, snapshots) -> dict:
    node = await NodeScenario.start(
        "delta",
        {
            "url": ws_url,
            "token": user.token,
            "channel": channel,
            "format": fmt,
            "transport": transport,
            "count": len(snapshots) + 1,
        },
    )
    try:
        await node.expect("subscribed")
        for snapshot in snapshots:
            await live.publish(channel, snapshot)
        return await node.result()
    finally:
        node.kill()
