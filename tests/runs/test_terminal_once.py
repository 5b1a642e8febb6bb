"""A terminal event re-sent after a crash (the reaper's republish) reaches clients only once."""

from __future__ import annotations

import json

from hub.platform.redis import get_redis
from hub.runs import publishing
from tests.runs.helpers import make_prompt, start, wait_run


async def test_republished_terminal_event_is_not_duplicated(client, register):
    creator, buyer = await register(), await register()
    prompt = await make_prompt(client, creator)
    r = await start(client, buyer, prompt["id"], max_tokens=5)
    assert r.status_code == 202, r.text
    run = await wait_run(client, buyer, r.json()["id"])
    assert run["status"] == "completed"
    stream_key = f"hub:{{runs:{run['id']}}}:stream"
    before = await get_redis().xrange(stream_key)
    # As the reaper does for a terminal event whose "published" mark was lost in a crash:
    await publishing.publish_terminal(run["id"], {"type": "run.completed", "run_id": run["id"]})
    after = await get_redis().xrange(stream_key)
    assert len(after) == len(before)
    types = [json.loads(fields[b"d"])["type"] for _, fields in after]
    assert types.count("run.completed") == 1
    assert sum(t in ("run.completed", "run.failed", "run.canceled") for t in types) == 1
