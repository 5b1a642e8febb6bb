"""A minimal hub-like Litestar app around the realtime Engine, for tests and the benchmark.

`uvicorn rt_app:app --app-dir tests/realtime` with REDIS_URL set. RT_CONFIG (JSON) overrides
EngineConfig fields.
"""

from __future__ import annotations

import json
import os
from typing import Any

from litestar import Litestar, post
from rt_policy import TokenAuthenticator, make_policy

from realtime import Engine, EngineConfig, http_routes, websocket_route


def make_config() -> EngineConfig:
    overrides = json.loads(os.environ.get("RT_CONFIG", "{}"))
    return EngineConfig(**overrides)


engine = Engine(os.environ["REDIS_URL"], make_policy(), TokenAuthenticator(), make_config())


@post("/publish/{channel:str}")
async def publish(channel: str, data: dict[str, Any]) -> dict[str, Any]:
    """Test hook: publish from this process (as the hub's services would)."""
    result = await engine.publish(channel, data)
    return {"offset": result.offset, "epoch": result.epoch}


@post("/disconnect/{user_id:str}")
async def disconnect(user_id: str) -> dict[str, Any]:
    await engine.disconnect_user(user_id)
    return {}


app = Litestar(
    route_handlers=[websocket_route(engine), *http_routes(engine), publish, disconnect],
    lifespan=[engine.lifespan],
)
