"""Wires the realtime engine into the app: policy, authenticator, route, lifespan, publishing."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from hub import live
from hub.live.channels import HubAuthenticator, HubPolicy
from hub.platform.redis import with_timeouts
from hub.platform.settings import Settings
from realtime import Engine, EngineConfig, http_routes, websocket_route


def engine_config(settings: Settings) -> EngineConfig:
    return EngineConfig(
        redis_cluster=settings.redis_cluster,
        ping_interval=settings.realtime_ping_seconds,
        pong_timeout=settings.realtime_pong_timeout_seconds,
        token_expiry_grace=settings.realtime_token_grace_seconds,
    )


def build(settings: Settings) -> Engine:
    # The engine's own Redis client gets socket timeouts too: a paused Redis cannot hang a
    # publish, a history read or a presence call forever.
    url = with_timeouts(settings.redis_url, settings.realtime_redis_timeout_seconds)
    return Engine(url, HubPolicy(), HubAuthenticator(), engine_config(settings))


def route_handlers(engine: Engine) -> list[Any]:
    return [websocket_route(engine, "/connection/websocket"), *http_routes(engine)]


async def start(app: Litestar, engine: Engine) -> None:
    await engine.start()
    live.install(engine.publish, engine.disconnect_user, engine.publish_many)
    live.install_server(engine)


async def stop(app: Litestar, engine: Engine) -> None:
    live.install(None, None)
    live.install_server(None)
    await engine.stop()
