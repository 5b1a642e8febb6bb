"""Server-side subscriptions: on connect a signed-in client is subscribed by the server to its
personal channels (notifications#, feed#, and sales# for creators), recovered on reconnect
from the positions the SDK keeps, so a mobile reconnect costs one round trip."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from centrifuge import Client, ClientState

from hub import live
from tests.hub_realtime.conftest import NodeScenario, needs_node
from tests.realtime.sdk_helpers import ClientEvents, Recorder, make_client
from tests.runs.helpers import make_prompt


class ServerEvents(ClientEvents):
    """Client events plus the server-side subscription ones."""

    def __init__(self) -> None:
        super().__init__()
        self.subscribed: list[Any] = []
        self.pubs: list[tuple[str, Any]] = []
        self.unsubscribed: list[Any] = []

    async def on_subscribed(self, ctx: Any) -> None:
        self.subscribed.append(ctx)
        self.changed.set()

    async def on_publication(self, ctx: Any) -> None:
        self.pubs.append((ctx.channel, ctx.pub.data))
        self.changed.set()

    async def on_unsubscribed(self, ctx: Any) -> None:
        self.unsubscribed.append(ctx)
        self.changed.set()


async def _wait(predicate, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_personal_channels_are_subscribed_on_connect_and_recovered(client, register, proxy):
    creator, buyer = await register(), await register()
    await make_prompt(client, creator)  # owning a prompt makes a creator: sales# too
    await _connect_and_recover(proxy, buyer, {f"notifications#{buyer.id}", f"feed#{buyer.id}"})
    await _connect_and_recover(
        proxy,
        creator,
        {f"notifications#{creator.id}", f"feed#{creator.id}", f"sales#{creator.id}"},
    )


async def _connect_and_recover(proxy, user, expected: set[str]) -> None:
    events = ServerEvents()
    c = Client(
        proxy.ws_url,
        token=user.token,
        events=events,
        proxy=None,
        min_reconnect_delay=0.05,
        max_reconnect_delay=0.5,
    )
    await c.connect()
    try:
        await events.wait_for(lambda: len(events.subscribed) >= len(expected))
        assert {s.channel for s in events.subscribed} == expected
        assert all(s.recoverable and s.positioned for s in events.subscribed)
        note = f"notifications#{user.id}"
        await live.publish(note, {"type": "notification.created", "id": "1"})
        await events.wait_for(lambda: len(events.pubs) == 1)
        assert events.pubs == [(note, {"type": "notification.created", "id": "1"})]

        await proxy.cut()  # offline: what is published meanwhile comes with the reconnect
        await _wait(lambda: c.state == ClientState.CONNECTING)
        await live.publish(note, {"type": "notification.created", "id": "2"})
        await live.publish(f"feed#{user.id}", {"type": "feed.item", "id": "f"})
        await proxy.start()
        await events.wait_for(
            lambda: len(events.subscribed) >= 2 * len(expected) and len(events.pubs) == 3
        )
        again = {s.channel: s for s in events.subscribed[len(expected) :]}
        assert set(again) == expected
        assert all(s.was_recovering and s.recovered for s in again.values())
        assert sorted(d["id"] for _, d in events.pubs[1:]) == ["2", "f"]
    finally:
        await c.disconnect()


async def test_a_client_side_subscribe_takes_the_channel_over(register, ws_url):
    """Apps that subscribe to their personal channels themselves (the web client) keep working:
    no 105 'already subscribed', publications go to their subscription."""
    user = await register()
    events = ServerEvents()
    c = make_client(ws_url, token=user.token, events=events)
    await c.connect()
    try:
        await events.wait_for(lambda: len(events.subscribed) == 2)
        rec = Recorder()
        sub = c.new_subscription(f"notifications#{user.id}", rec)
        await sub.subscribe()
        await sub.ready(5)
        await live.publish(f"notifications#{user.id}", {"type": "notification.created", "id": "x"})
        await rec.wait_for(lambda: rec.data() == [{"type": "notification.created", "id": "x"}])
        # The other personal channel stays server-side.
        await live.publish(f"feed#{user.id}", {"type": "feed.item", "id": "y"})
        await events.wait_for(lambda: any(ch == f"feed#{user.id}" for ch, _ in events.pubs))
    finally:
        await c.disconnect()


async def test_anonymous_connections_get_no_server_side_subscriptions(ws_url):
    events = ServerEvents()
    c = make_client(ws_url, events=events)
    await c.connect()
    try:
        await events.wait_for(lambda: events.connected)
        assert events.subscribed == []
    finally:
        await c.disconnect()


@needs_node
async def test_centrifuge_js_server_side_publications_and_recovery(client, register, proxy):
    user = await register()
    for fmt in ("json", "protobuf"):
        node = await NodeScenario.start(
            "server_subs",
            {"url": proxy.ws_url, "token": user.token, "format": fmt, "count": 2},
        )
        try:
            ready = await node.expect("subscribed")
            assert sorted(ready["channels"]) == sorted(
                [f"feed#{user.id}", f"notifications#{user.id}"]
            )
            await live.publish(
                f"notifications#{user.id}", {"type": "notification.created", "id": fmt}
            )
            await node.expect("publication")
            await proxy.cut()
            await node.expect("offline")
            await live.publish(f"feed#{user.id}", {"type": "feed.item", "id": f"{fmt}-missed"})
            await proxy.start()
            result = await node.result()
        finally:
            node.kill()
        assert result["pubs"] == [
            {
                "channel": f"notifications#{user.id}",
                "data": {"type": "notification.created", "id": fmt},
            },
            {"channel": f"feed#{user.id}", "data": {"type": "feed.item", "id": f"{fmt}-missed"}},
        ]
        second = [s for s in result["subscribed"][2:]]
        assert {s["channel"] for s in second} == {f"feed#{user.id}", f"notifications#{user.id}"}
        assert all(s["wasRecovering"] and s["recovered"] for s in second)


async def test_a_gap_in_a_server_side_channel_reconnects_and_says_not_recovered(register, ws_url):
    """Redis lost a personal channel's stream while the client was subscribed server-side: the
    connection is closed with 3010 (a server-side subscription cannot be resubscribed alone),
    the SDK reconnects at once and is told `recovered: false`, so the app reloads."""
    from hub.platform.redis import get_redis

    user = await register()
    events = ServerEvents()
    c = make_client(ws_url, token=user.token, events=events)
    await c.connect()
    note = f"notifications#{user.id}"
    try:
        await events.wait_for(lambda: len(events.subscribed) == 2)
        await live.publish(note, {"type": "notification.created", "id": "1"})
        await events.wait_for(lambda: len(events.pubs) == 1)
        await get_redis().delete(f"hub:{{{note}}}:meta", f"hub:{{{note}}}:stream")
        await live.publish(note, {"type": "notification.created", "id": "2"})  # a new epoch
        await events.wait_for(lambda: any(x.code == 3010 for x in events.connecting))
        await events.wait_for(lambda: len(events.subscribed) == 4)
        again = next(s for s in events.subscribed[2:] if s.channel == note)
        assert again.was_recovering and not again.recovered
        assert [d["id"] for _, d in events.pubs] == ["1"]  # no silent gap
    finally:
        await c.disconnect()
