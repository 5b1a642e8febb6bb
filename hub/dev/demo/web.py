"""Demo data the web pages show in `make run`: followers told of the demo prompts (feed and
notifications through the real fan-out), and a lobby conversation. Idempotent: the fan-out is
unique per follower, prompt and version; the lobby is seeded only while it is empty."""

from __future__ import annotations

import uuid

import structlog

from hub.community import feed
from hub.platform.db import fetch, fetchrow
from hub.rooms import service as rooms

log = structlog.get_logger(__name__)

LOBBY = [
    ("alice", "Welcome to BetterPrompt! New haiku prompt is up, tell me what you think."),
    ("bob", "Just ran the cold email one in Private Mode, the output is great."),
    ("carol", "Code review checklist caught an off-by-one for me this morning."),
    ("bob", "Following you both now, the feed is handy."),
]


async def seed() -> None:
    prompts = await fetch(
        "SELECT p.id, p.created_at FROM prompts p JOIN users u ON u.id = p.owner_id "
        "WHERE lower(u.handle) IN ('alice', 'carol') AND p.status = 'active'"
    )
    for p in prompts:
        await feed.fanout_batch(str(p["id"]), 1, p["created_at"], None)
    lobby = await rooms.find_room("lobby")
    if lobby is None:
        return
    has_messages = await fetchrow(
        "SELECT 1 FROM room_messages WHERE room_id = $1 LIMIT 1", lobby["id"]
    )
    if has_messages:
        return
    for i, (handle, text) in enumerate(LOBBY):
        user = await fetchrow(
            "SELECT id FROM users WHERE lower(handle) = $1 AND deleted_at IS NULL", handle
        )
        if user is None:
            continue
        await fetch(
            "INSERT INTO room_messages (room_id, author_id, text, created_at) "
            "VALUES ($1, $2, $3, now() - make_interval(mins => $4))",
            lobby["id"],
            uuid.UUID(str(user["id"])),
            text,
            (len(LOBBY) - i) * 7,
        )
    log.info("seed.web", prompts=len(prompts), lobby_messages=len(LOBBY))
