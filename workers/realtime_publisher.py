"""Realtime publishing for worker processes: no websocket engine, the same atomic Redis publish."""

from __future__ import annotations

from typing import Any

from hub import live
from hub.live.channels import HubPolicy
from hub.platform.redis import get_redis, realtime_client
from hub.platform.settings import Settings
from realtime import Publisher

_installed_here = False
_stream_client: Any = None
_own_client: Any = None


async def install(settings: Settings) -> None:
    """Install the worker's publisher unless this process already has one (the app, in tests)."""
    global _installed_here, _stream_client, _own_client
    if _stream_client is None:
        # Runs' deltas wait for Redis's answer (no read timeout): see live.publish_stream.
        _stream_client = realtime_client(settings, timeout=None)
        live.install_stream(Publisher(_stream_client, HubPolicy()).publish_many)
    if live.is_installed():
        return
    if settings.realtime_redis_separate:  # a cluster, or not the queue's Redis
        _own_client = realtime_client(settings, timeout=settings.realtime_redis_timeout_seconds)
    publisher = Publisher(_own_client or get_redis(), HubPolicy())
    live.install(publisher.publish, publisher.disconnect_user, publisher.publish_many)
    live.install_server(publisher)
    _installed_here = True


async def uninstall() -> None:
    global _installed_here, _stream_client, _own_client
    if _stream_client is not None:
        live.install_stream(None)
        await _stream_client.aclose()
        _stream_client = None
    if _own_client is not None:
        await _own_client.aclose()
        _own_client = None
    if _installed_here:
        live.install(None, None)
        live.install_server(None)
        _installed_here = False
