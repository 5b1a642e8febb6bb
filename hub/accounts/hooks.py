"""Extension points other domains plug into, so accounts knows nothing about them.

- `on_user_registered`: called inside the registration transaction with the new user id
  (the ledger grants starter credits here, so both commit or neither does).
- `on_user_signed_out`: called after logout with the user id (realtime force-disconnect).
- `exporters`: name -> `async (user_id) -> JSON-able`, each domain's part of the GDPR export.
- `on_user_erased`: called inside the erasure transaction; each domain removes or anonymises
  the user's personal data (money records are kept, without personal data).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

UserHook = Callable[[str], Awaitable[None]]
Exporter = Callable[[str], Awaitable[Any]]

on_user_registered: list[UserHook] = []
on_user_signed_out: list[UserHook] = []
on_user_erased: list[UserHook] = []
exporters: dict[str, Exporter] = {}


async def run(hooks: list[UserHook], user_id: str) -> None:
    for hook in hooks:
        await hook(user_id)


def add(hooks: list[UserHook], hook: UserHook) -> None:
    """Register once, even if the registering module is imported again (tests, reloads)."""
    if all(
        getattr(h, "__qualname__", h) != getattr(hook, "__qualname__", hook)
        or getattr(h, "__module__", None) != getattr(hook, "__module__", None)
        for h in hooks
    ):
        hooks.append(hook)
