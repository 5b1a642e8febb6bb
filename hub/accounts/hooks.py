"""Extension points other domains plug into, so accounts knows nothing about them.

- `on_user_registered`: called inside the registration transaction with the new user id
  (the ledger grants starter credits here, so both commit or neither does).
- `on_user_signed_out`: called after logout with the user id (realtime force-disconnect).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

UserHook = Callable[[str], Awaitable[None]]

on_user_registered: list[UserHook] = []
on_user_signed_out: list[UserHook] = []


async def run(hooks: list[UserHook], user_id: str) -> None:
    for hook in hooks:
        await hook(user_id)
