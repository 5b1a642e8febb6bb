"""Realtime publishing for worker processes: no websocket engine, the same atomic Redis publish."""

from __future__ import annotations

from hub import live
from hub.channels import HubPolicy
from hub.redis import get_redis
from hub.settings import Settings
from realtime import Publisher

_installed_here = False


async def install(settings: Settings) -> None:
    """Install the worker's publisher unless this process already has one (the app, in tests)."""
    global _installed_here
    if live.is_installed():
        return
    publisher = Publisher(get_redis(), HubPolicy())
    live.install(publisher.publish, publisher.disconnect_user, publisher.publish_many)
    live.install_server(publisher)
    _installed_here = True


async def uninstall() -> None:
    global _installed_here
    if _installed_here:
        live.install(None, None)
        live.install_server(None)
        _installed_here = False
