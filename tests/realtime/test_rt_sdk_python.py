"""The official centrifuge-python SDK against the hub, over JSON and Protobuf."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from centrifuge import ReplyError, SubscriptionState
from sdk_helpers import Recorder, encode, make_client

PROTOCOLS = [pytest.param(False, id="json"), pytest.param(True, id="protobuf")]


async def http_publish(hub, channel: str, data: dict) -> dict:
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{hub.url}/publish/{channel}", json=data)
        r.raise_for_status()
        return r.json()


@pytest.mark.parametrize("protobuf", PROTOCOLS)
async def test_connect_subscribe_receive(hub, publisher, uid, protobuf):
    client = make_client(hub.ws_url, token=f"u{uid}:0", protobuf=protobuf)
    rec = Recorder(protobuf)
    sub = client.new_subscription(f"public:{uid}", events=rec)
    await client.connect()
    await sub.subscribe()
    await sub.ready(5)
    assert rec.subscribed[0].recoverable
    for i in range(5):
        await publisher.publish(f"public:{uid}", {"type": "t", "i": i})
    await rec.wait_for(lambda: len(rec.pubs) == 5)
    assert rec.data() == [{"type": "t", "i": i} for i in range(5)]
    assert rec.offsets() == [1, 2, 3, 4, 5]
    await client.disconnect()
