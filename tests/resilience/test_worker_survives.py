"""The worker outlives Redis: it keeps running through an outage and, once Redis is back,
runs what was queued meanwhile."""

from __future__ import annotations

import uuid

import httpx

from tests.resilience.helpers import make_prompt, register, start_run, wait_run


async def test_worker_survives_a_redis_restart_and_runs_what_was_queued_meanwhile(stack, api):
    creator, buyer = await register(api), await register(api)
    prompt = await make_prompt(api, creator)
    first = await wait_run(api, buyer, (await start_run(api, buyer, prompt["id"]))["id"])
    assert first["status"] == "completed"

    stack.redis.kill()
    await stack.wait_log(stack.worker, "worker.redis_down")
    async with httpx.AsyncClient(timeout=5) as http:
        r = await http.get(stack.base + "/readyz")
    assert r.status_code == 503 and "redis" in r.json()["down"]

    # A run accepted while Redis is down (as one whose request passed authentication just
    # before it went): the run and its job are committed, the job waits in the outbox.
    queued = await stack.offline(
        "start_run",
        buyer_id=buyer.id,
        prompt_id=prompt["id"],
        body={"inputs": {"topic": "rain"}, "max_tokens": 30},
        key=str(uuid.uuid4()),
    )
    assert queued["status"] == "queued"
    assert stack.worker.alive()

    stack.redis.start()  # empty: the queue, history and revocations are gone
    await stack.wait_log(stack.worker, "worker.redis_up")
    await stack.wait_ready()
    done = await wait_run(api, buyer, queued["id"])
    assert done["status"] == "completed" and done["output"] and done["attempt"] == 1
    after = await wait_run(api, buyer, (await start_run(api, buyer, prompt["id"]))["id"])
    assert after["status"] == "completed"
    assert stack.worker.alive()
