"""`python -m tests.resilience.offline <action> <json>`: one domain action run the way the
app runs it after a request passed authentication, in a process of its own pointed at the
fault stack's servers (DATABASE_URL, REDIS_URL). The fault tests use it to commit a change
while Redis is down, which no REST request can do: signed-in requests fail closed (503)
before they reach the domain, by design. Prints the result as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import msgspec


async def main(action: str, args: dict[str, Any]) -> dict[str, Any]:
    from hub.platform import redis as hub_redis
    from hub.platform.db import close_pool, start_pool
    from hub.platform.settings import get_settings
    from workers import realtime_publisher

    settings = get_settings()
    hub_redis.connect(settings.queue_redis)
    await start_pool(min_size=0, max_size=2)
    await realtime_publisher.install(settings)  # publishes as the app would (and fails now)
    try:
        if action == "create_prompt":
            from hub.prompts.schemas import PromptCreate
            from hub.prompts.service import create_prompt

            body = msgspec.convert(args["body"], PromptCreate)
            out = await create_prompt(args["owner_id"], body)
            return {"id": out.id}
        if action == "start_run":
            from hub.runs.schemas import RunRequest
            from hub.runs.start import start_run

            run = await start_run(
                args["buyer_id"],
                args["prompt_id"],
                msgspec.convert(args["body"], RunRequest),
                args["key"],
            )
            return {"id": run.id, "status": run.status}
        raise SystemExit(f"unknown action {action}")
    finally:
        await realtime_publisher.uninstall()
        await close_pool()
        await hub_redis.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))))
