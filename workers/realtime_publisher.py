"""Installs the realtime publisher for worker processes (no websocket engine, just Redis)."""

from __future__ import annotations

from hub.settings import Settings


async def install(settings: Settings) -> None:
    return None


async def uninstall() -> None:
    return None
