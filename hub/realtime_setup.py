"""Wires the realtime engine into the app: policy, authenticator, route, lifespan, publishing."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from hub import live
from hub.accounts import hooks as account_hooks
from hub.channels import HubAuthenticator, HubPolicy
from hub.settings import Settings
from realtime import Engine, EngineConfig, websocket_route

_engine: Engine | None = None


def engine_config(settings: Settings) -> EngineConfig:
    return EngineConfig(
        ping_interval=settings.realtime_ping_seconds,
        pong_timeout=settings.realtime_pong_timeout_seconds,
        token_expiry_grace=settings.realtime_token_grace_seconds,
    )


def build(settings: Settings) -> Engine:
    global _engine
    _engine = Engine(settings.redis_url, HubPolicy(), HubAuthenticator(), engine_config(settings))
    return _engine


def route_handlers(engine: Engine) -> list[Any]:
    return [websocket_route(engine, "/connection/websocket")]


async def _disconnect(user_id: str) -> None:
    """Close the user's connections with "force reconnect" (3011): sessions whose token is still
    valid reconnect at once (and recover), while a revoked token is refused with 3500, which
    stops that SDK. So logging out one device does not log out the others."""
    if _engine is not None:
        await _engine.disconnect_user(user_id, 3011, "force reconnect")


async def start(app: Litestar, engine: Engine) -> None:
    await engine.start()
    live.install(engine.publish, _disconnect)
    account_hooks.add(account_hooks.on_user_signed_out, _disconnect)


async def stop(app: Litestar, engine: Engine) -> None:
    live.install(None, None)
    await engine.stop()
