"""Wires the realtime engine into the app: the hub's channel policy, authenticator and route.

Until the engine lands this installs nothing, and `hub.live.publish` logs and drops.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from hub.settings import Settings


def route_handlers() -> list[Any]:
    return []


async def start(app: Litestar, settings: Settings) -> None:
    return None


async def stop(app: Litestar) -> None:
    return None
