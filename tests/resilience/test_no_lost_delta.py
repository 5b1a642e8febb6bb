"""Deltas that Redis could not take are retried, in order, until they land: what subscribers
see is exactly the saved output, with no seq gap and nothing twice."""

from __future__ import annotations

import asyncio
from typing import Any

from centrifuge import Client, PublicationContext, SubscribedContext, SubscriptionEventHandler

from tests.resilience.helpers import make_prompt, register, start_run, wait_run


class RunWatcher(SubscriptionEventHandler):
    """Records a run channel's publications (live and recovered) and subscribe events."""

    def __init__(self) -> None:
        self.pubs: list[dict[str, Any]] = []
        self.subscribed: list[SubscribedContext] = []
        self.changed = asyncio.Event()

    async def on_publication(self, ctx: PublicationContext) -> None:
        self.pubs.append(ctx.pub.data)
        self.changed.set()

    async def on_subscribed(self, ctx: SubscribedContext) -> None:
        self.subscribed.append(ctx)
        self.changed.set()

    def deltas(self) -> list[dict[str, Any]]:
        return [p for p in self.pubs if p["type"] == "run.delta"]

    async def wait_for(self, predicate: Any, within: float = 20.0) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), within)


def assert_contiguous(deltas: list[dict[str, Any]]) -> str:
    """Seq 1..n, each once, in order; returns their text."""
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1)), [d["seq"] for d in deltas]
    assert {d["attempt"] for d in deltas} == {1}
    return "".join(d["text"] for d in deltas)


async def test_redis_paused_mid_run_loses_no_text(stack, api):
    creator, buyer = await register(api), await register(api)
    prompt = await make_prompt(api, creator, price_cents=0)
    run = await start_run(api, buyer, prompt["id"], max_tokens=1200, visibility="public")
    watcher = RunWatcher()
    sdk = Client(stack.ws, token=buyer.token, timeout=5.0, proxy=None)
    await sdk.connect()
    try:
        sub = sdk.new_subscription(run["channel"], events=watcher)
        await sub.subscribe()
        await watcher.wait_for(lambda: len(watcher.deltas()) >= 3)

        stack.redis.pause()
        try:
            # The worker has felt the pause (its job loop timed out) while the provider kept
            # streaming: deltas are now waiting for Redis.
            await stack.wait_log(stack.worker, "worker.redis_down")
            mid = await api.get(f"/runs/{run['id']}")  # anonymous: Postgres only
            assert mid.status_code == 200 and mid.json()["status"] == "running"
        finally:
            stack.redis.resume()

        done = await wait_run(api, buyer, run["id"])
        await watcher.wait_for(
            lambda: any(p["type"] == "run.completed" for p in watcher.pubs), within=10
        )
    finally:
        await sdk.disconnect()
    assert done["status"] == "completed", done
    text = assert_contiguous(watcher.deltas())
    assert text == done["output"] and len(text) > 0
    completed = [p for p in watcher.pubs if p["type"] == "run.completed"]
    assert len(completed) == 1 and completed[0]["seq"] == len(watcher.deltas())


async def test_redis_restarted_empty_mid_run_loses_no_text(stack, api):
    """Publishes fail while Redis is down and are retried into the new (empty) Redis:
    subscribers are told `recovered: false`, and every seq is in what they saw live or in the
    channel's new history, each once, adding up to the saved output."""
    creator, buyer = await register(api), await register(api)
    prompt = await make_prompt(api, creator, price_cents=0)
    run = await start_run(api, buyer, prompt["id"], max_tokens=1200, visibility="public")
    watcher = RunWatcher()
    sdk = Client(stack.ws, token=buyer.token, timeout=5.0, proxy=None)
    await sdk.connect()
    try:
        sub = sdk.new_subscription(run["channel"], events=watcher)
        await sub.subscribe()
        await watcher.wait_for(lambda: len(watcher.deltas()) >= 3)

        stack.redis.kill()
        await stack.wait_log(stack.worker, "run.publish_failing")
        stack.redis.start()  # empty
        await stack.wait_log(stack.worker, "run.publish_resumed")

        done = await wait_run(api, buyer, run["id"])
        await watcher.wait_for(
            lambda: any(s.was_recovering and not s.recovered for s in watcher.subscribed[1:])
        )
        history = await sdk.history(run["channel"], limit=-1)
    finally:
        await sdk.disconnect()
    assert done["status"] == "completed", done
    by_seq: dict[int, str] = {}
    for d in watcher.deltas() + [p.data for p in history.publications]:
        if d["type"] != "run.delta":
            continue
        assert by_seq.setdefault(d["seq"], d["text"]) == d["text"]  # a seq never changes text
    assert sorted(by_seq) == list(range(1, len(by_seq) + 1))
    assert "".join(by_seq[s] for s in sorted(by_seq)) == done["output"]
    terminals = [p.data for p in history.publications if p.data["type"] == "run.completed"]
    assert len(terminals) == 1 and terminals[0]["seq"] == len(by_seq)
