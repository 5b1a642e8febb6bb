"""The outbox: side effects of a change committed while Redis was down happen once it is back."""

from __future__ import annotations

import asyncio
import time

from centrifuge import Client

from tests.resilience.helpers import register


async def test_outbox_delivers_a_feed_item_saved_while_redis_was_down(stack, api):
    creator, follower = await register(api), await register(api)
    r = await api.post(f"/creators/{creator.handle}/follow", headers=follower.headers)
    assert r.status_code in (200, 201), r.text

    stack.redis.kill()
    await stack.wait_log(stack.worker, "worker.redis_down")
    saved = await stack.offline(
        "create_prompt",
        owner_id=creator.id,
        body={"title": "Written while Redis was down", "template": "Say {{x}}.", "model": "demo"},
    )
    r = await api.get(f"/prompts/{saved['id']}")  # anonymous: Postgres only
    assert r.status_code == 200 and r.json()["title"] == "Written while Redis was down"
    assert (await api.get("/me/feed", headers=follower.headers)).status_code == 503

    stack.redis.start()  # empty: nothing of the fan-out was queued there
    await stack.wait_ready()
    deadline = time.monotonic() + 30
    while True:
        r = await api.get("/me/feed", headers=follower.headers)
        if r.status_code == 200 and any(
            i["prompt"]["id"] == saved["id"] for i in r.json()["items"]
        ):
            break
        assert time.monotonic() < deadline, f"feed item never appeared: {r.text}\n{stack.logs()}"
        await asyncio.sleep(0.1)

    # ...and it was published on the follower's live feed channel, once.
    sdk = Client(stack.ws, token=follower.token, timeout=5.0, proxy=None)
    await sdk.connect()
    try:
        channel = f"feed#{follower.id}"
        while True:
            history = await sdk.history(channel, limit=-1)
            items = [
                p.data
                for p in history.publications
                if p.data.get("type") == "feed.item"
                and p.data["item"]["prompt"]["id"] == saved["id"]
            ]
            if items:
                break
            assert time.monotonic() < deadline, "feed.item never published"
            await asyncio.sleep(0.1)
    finally:
        await sdk.disconnect()
    assert len(items) == 1 and items[0]["item"]["actor"]["handle"] == creator.handle
