"""The worker outlives Redis: it keeps running through an outage and serves runs after it."""

from __future__ import annotations

import httpx

from tests.resilience.helpers import make_prompt, register, start_run, wait_run


async def test_worker_survives_a_redis_restart(stack, api):
    creator, buyer = await register(api), await register(api)
    prompt = await make_prompt(api, creator)
    first = await wait_run(api, buyer, (await start_run(api, buyer, prompt["id"]))["id"])
    assert first["status"] == "completed"

    stack.redis.kill()
    await stack.wait_log(stack.worker, "worker.redis_down")
    async with httpx.AsyncClient(timeout=5) as http:
        r = await http.get(stack.base + "/readyz")
    assert r.status_code == 503 and "redis" in r.json()["down"]
    assert stack.worker.alive()

    stack.redis.start()  # empty: the queue, history and revocations are gone
    await stack.wait_log(stack.worker, "worker.redis_up")
    await stack.wait_ready()
    run = await start_run(api, buyer, prompt["id"])
    done = await wait_run(api, buyer, run["id"])
    assert done["status"] == "completed" and done["output"]
    assert stack.worker.alive()
