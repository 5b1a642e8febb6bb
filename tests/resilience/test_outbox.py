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


async def test_a_job_redis_forgot_before_it_ran_is_enqueued_again(stack, api):
    """The fan-out job of a prompt was enqueued, then Redis restarted empty before any worker
    ran it: the outbox, which keeps a job's row until arq has its result, enqueues it again."""
    creator, follower = await register(api), await register(api)
    r = await api.post(f"/creators/{creator.handle}/follow", headers=follower.headers)
    assert r.status_code in (200, 201), r.text

    stack.worker.stop()  # nobody runs the job...
    r = await api.post(
        "/prompts",
        headers=creator.headers,
        json={"title": "Queued, then forgotten", "template": "Say {{x}}.", "model": "demo"},
    )
    assert r.status_code == 201, r.text
    prompt_id = r.json()["id"]
    stack.redis.restart()  # ...and Redis forgets it
    stack.worker.start()
    await stack.wait_ready()

    deadline = time.monotonic() + 60
    while True:
        r = await api.get("/me/feed", headers=follower.headers)
        if r.status_code == 200 and any(i["prompt"]["id"] == prompt_id for i in r.json()["items"]):
            break
        assert time.monotonic() < deadline, f"the fan-out never ran: {r.text}\n{stack.logs()}"
        await asyncio.sleep(0.2)
