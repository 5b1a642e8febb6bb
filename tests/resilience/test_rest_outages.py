"""While Redis hangs, REST answers at once: 503 + Retry-After where Redis is needed (signed-in
requests: token revocation fails closed), and anonymous reads that need only Postgres work."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.resilience.helpers import make_prompt, register


async def test_paused_redis_gives_503_and_anonymous_reads_still_work(stack, api):
    creator = await register(api)
    prompt = await make_prompt(api, creator, title="Readable while Redis hangs")

    # "At once" means bounded by the hub's Redis timeout (1 s here), not by the paused Redis:
    # the client gives up after 10 s (the `api` fixture), so a hanging request fails this test
    # with a ReadTimeout, whatever the machine's load. How long the answer takes is a figure
    # of `make drill`, not an assertion.
    stack.redis.pause()
    try:
        r = await api.get("/me", headers=creator.headers)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert int(r.headers["retry-after"]) > 0
        problem = r.json()
        assert problem["type"].endswith("/service-unavailable") and problem["status"] == 503
        assert "redis" not in r.text.lower() and "postgres" not in r.text.lower()

        login = await api.post(
            "/auth/login",
            json={"email": f"{creator.handle}@example.com", "password": "correct horse battery"},
        )
        assert login.status_code == 503, login.text  # login throttling fails closed

        for path in (f"/prompts/{prompt['id']}", "/prompts"):
            r = await api.get(path)
            assert r.status_code == 200, r.text
        assert any(p["id"] == prompt["id"] for p in r.json()["items"])
    finally:
        stack.redis.resume()

    async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as fresh:
        deadline = time.monotonic() + 10
        while (r := await fresh.get("/me", headers=creator.headers)).status_code != 200:
            assert r.status_code == 503 and time.monotonic() < deadline, r.text
            await asyncio.sleep(0.05)
    assert r.json()["handle"] == creator.handle
