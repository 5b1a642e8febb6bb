"""Demo accounts (password `demo-password`): creators alice and carol, buyer bob, admin root."""

from __future__ import annotations

from hub.accounts import service
from hub.accounts.schemas import RegisterRequest
from hub.db import fetch, fetchrow

DEMO_PASSWORD = "demo-password"
DEMO_USERS = [
    ("alice@example.com", "alice", "Alice (creator)", []),
    ("carol@example.com", "carol", "Carol (creator)", []),
    ("bob@example.com", "bob", "Bob (buyer)", []),
    ("admin@example.com", "hubadmin", "Hub Admin", ["admin", "moderator"]),
]


async def seed() -> None:
    for email, handle, name, roles in DEMO_USERS:
        if await fetchrow("SELECT 1 FROM users WHERE lower(email) = lower($1)", email):
            continue
        await service.register(
            RegisterRequest(email=email, password=DEMO_PASSWORD, handle=handle, display_name=name)
        )
        if roles:
            await fetch("UPDATE users SET roles = $1 WHERE lower(email) = lower($2)", roles, email)
