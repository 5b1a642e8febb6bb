"""Demo accounts (password `demo-password`): creators alice and carol, buyer bob, admin root."""

from __future__ import annotations

from hub.accounts import service, verification
from hub.accounts.schemas import RegisterRequest
from hub.platform.db import fetch, fetchrow

DEMO_PASSWORD = "demo-password"
DEMO_USERS = [
    ("alice@example.com", "alice", "Alice (creator)", []),
    ("carol@example.com", "carol", "Carol (creator)", []),
    ("bob@example.com", "bob", "Bob (buyer)", []),
    ("admin@example.com", "hubadmin", "Hub Admin", ["admin", "moderator"]),
]


async def seed() -> None:
    for email, handle, name, roles in DEMO_USERS:
        row = await fetchrow("SELECT id FROM users WHERE email = $1", email)
        if row is None:
            user, *_ = await service.register(
                RegisterRequest(
                    email=email, password=DEMO_PASSWORD, handle=handle, display_name=name
                ),
                send_verification=False,
            )
            if roles:
                await fetch("UPDATE users SET roles = $1 WHERE email = $2", roles, email)
            user_id = user.id
        else:
            user_id = str(row["id"])
        # Demo users are verified (and so hold their starter credits, once).
        await verification.mark_verified(user_id)
