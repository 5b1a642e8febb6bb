"""Realtime publishing for worker processes: no websocket engine, the same atomic Redis publish."""

from __future__ import annotations

from typing import Any

from hub import live
from hub.channels import HubPolicy
from hub.redis import client_for, get_redis
from hub.settings import Settings
from realtime import Publisher

_installed_here = False
_stream_client: Any = None


async def install(settings: Settings) -> None:
    """Install the worker's publisher unless this process already has one (the app, in tests)."""
    global _installed_here, _stream_client
    if _stream_client is None:
        # Runs' deltas wait for Redis's answer (no read timeout): see live.publish_stream.
        _stream_client = client_for(settings.redis_url, timeout=None)
        live.install_stream(Publisher(_stream_client, HubPolicy()).publish_many)
    if live.is_installed():
        return
    publisher = Publisher(get_redis(), HubPolicy())
    live.install(publisher.publish, publisher.disconnect_user, publisher.publish_many)
    live.install_server(publisher)
    _installed_here = True


async def uninstall() -> None:
    global _installed_here, _stream_client
    if _stream_client is not None:
        live.install_stream(None)
        await _stream_client.aclose()
        _stream_client = None
    if _installed_here:
        live.install(None, None)
        live.install_server(None)
        _installed_here = False
