"""Extension points other domains plug into, so accounts knows nothing about them.

They are filled in one place, `hub.wiring.register_domain_hooks()` (the app, the worker and the
demo data all call it); importing a module registers nothing.

- `on_user_registered`: called inside the registration transaction with the new user id
  (the ledger opens the wallet here, so both commit or neither does).
- `on_email_verified`: called inside the verification transaction (an
  `outbox.transaction()`, so notices written there go out after the commit) with the user id
  and the normalised address (the ledger grants starter credits here, once per address).
- `on_user_signed_out`: called after logout with the user id (realtime force-disconnect).
- `exporters`: name -> `async (user_id) -> JSON-able`, each domain's part of the GDPR export.
- `on_user_erased`: called inside the erasure transaction; each domain removes or anonymises
  the user's personal data (money records are kept, without personal data).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

UserHook = Callable[[str], Awaitable[None]]
EmailHook = Callable[[str, str], Awaitable[None]]
Exporter = Callable[[str], Awaitable[Any]]

on_user_registered: list[UserHook] = []
on_email_verified: list[EmailHook] = []
on_user_signed_out: list[UserHook] = []
on_user_erased: list[UserHook] = []
exporters: dict[str, Exporter] = {}


async def run(hooks: list[UserHook], user_id: str) -> None:
    for hook in hooks:
        await hook(user_id)


async def run_email(hooks: list[EmailHook], user_id: str, email: str) -> None:
    for hook in hooks:
        await hook(user_id, email)


def install(
    *,
    on_registered: list[UserHook],
    on_verified: list[EmailHook],
    on_signed_out: list[UserHook],
    on_erased: list[UserHook],
    exports: dict[str, Exporter],
) -> None:
    """Set every extension point at once; `hub.wiring.register_domain_hooks` is the only caller.

    The lists are filled in place (modules hold references to them), and replaced rather than
    appended to, so wiring twice (every `create_app()` in tests, the worker in the same
    process) never runs a hook twice.
    """
    on_user_registered[:] = on_registered
    on_email_verified[:] = on_verified
    on_user_signed_out[:] = on_signed_out
    on_user_erased[:] = on_erased
    exporters.clear()
    exporters.update(exports)
