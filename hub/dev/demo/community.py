"""Demo community for `make run`, through the real service paths: a burst of new followers for
bob (one grouped notification: sign in as bob@example.com), a lobby message that mentions bob, a direct conversation
between bob and alice, bob's read marker in the lobby (so he has unread messages), carol's
notification settings, a spammer that bob blocked and that users reported (one open queue
entry with two reports, one resolved with a ban, in the audit log), and alice's email digest
(an .eml file in .devdata/mail when no SMTP server is set).

Idempotent: each part checks for what it would create (the spam message, the conversation,
the fans' follows) and the digest is once per period anyway.
"""

from __future__ import annotations

import time
import uuid

import structlog

from hub.accounts import service as accounts
from hub.accounts import verification
from hub.accounts.schemas import RegisterRequest
from hub.community import blocks, digests, preferences
from hub.community import service as community
from hub.community.schemas import NotificationSettingsPatch, TypeSettingPatch
from hub.dev.demo.accounts import DEMO_PASSWORD
from hub.moderation import service as moderation
from hub.moderation.schemas import ReportIn, ResolveIn
from hub.platform.auth import CurrentUser
from hub.platform.db import fetch, fetchrow
from hub.platform.redis import get_redis
from hub.rooms import dms, reads
from hub.rooms import messages as room_messages
from hub.rooms import service as rooms

log = structlog.get_logger(__name__)

FANS = [("dana", "Dana"), ("erin", "Erin"), ("frank", "Frank"), ("gus", "Gus")]
SPAMMER = ("spammy", "Totally Legit Deals")
SPAM = "Make $$$ fast with my prompt pack at totally-legit.example, DM me!!!"


async def _user(handle: str, display_name: str | None = None) -> CurrentUser | None:
    """The demo user (created, verified, with the demo password, when `display_name` is given)."""
    row = await fetchrow(
        "SELECT id, roles FROM users WHERE lower(handle) = $1 AND deleted_at IS NULL", handle
    )
    if row is None and display_name is not None:
        user, *_ = await accounts.register(
            RegisterRequest(
                email=f"{handle}@example.com",
                password=DEMO_PASSWORD,
                handle=handle,
                display_name=display_name,
            ),
            send_verification=False,
        )
        await verification.mark_verified(user.id)
        row = await fetchrow("SELECT id, roles FROM users WHERE id = $1", uuid.UUID(user.id))
    if row is None:
        return None
    return CurrentUser(id=str(row["id"]), roles=tuple(row["roles"] or ()))


async def seed() -> None:
    alice, bob, carol = await _user("alice"), await _user("bob"), await _user("carol")
    admin = await _user("hubadmin")
    if not (alice and bob and carol and admin):
        return
    # A burst of followers: "@gus and 3 others followed you" for bob.
    for handle, name in FANS:
        fan = await _user(handle, name)
        assert fan is not None
        await community.follow(fan.id, "bob")

    lobby = await rooms.find_room("lobby")
    assert lobby is not None
    spammer = await _user(*SPAMMER)
    assert spammer is not None
    spam = await fetchrow(
        "SELECT id FROM room_messages WHERE room_id = $1 AND author_id = $2",
        lobby["id"],
        uuid.UUID(spammer.id),
    )
    if spam is None:
        # Carol mentions bob; the spammer posts; bob and carol report it, bob blocks them.
        await room_messages.create_message(
            lobby,
            carol,
            "@bob the code review checklist now flags N+1 queries too, try it on your ORM code.",
            publish=True,
        )
        data = await room_messages.create_message(lobby, spammer, SPAM, publish=True)
        for reporter, reason in ((bob, "Spam link"), (carol, "Advertising, not a conversation")):
            await moderation.report(
                reporter, ReportIn(subject_type="message", subject_id=data["id"], reason=reason)
            )
        await blocks.block(bob.id, SPAMMER[0])
        # An earlier report of the spammer's profile, resolved with a one-hour ban.
        out, _ = await moderation.report(
            alice,
            ReportIn(subject_type="user", subject_id=spammer.id, reason="Spam account"),
        )
        await moderation.resolve(
            admin,
            uuid.UUID(out.case_id),
            ResolveIn(action="ban", minutes=60, reason="Spam account, first warning"),
        )
        # Bob read the lobby up to the start of today's conversation: the rest is unread.
        first = await fetchrow(
            "SELECT id, created_at FROM room_messages WHERE room_id = $1 AND NOT deleted "
            "ORDER BY created_at, id LIMIT 1 OFFSET 1",
            lobby["id"],
        )
        if first is not None:
            await reads.advance(lobby["id"], uuid.UUID(bob.id), first["id"], first["created_at"])

    # A direct conversation between bob and alice.
    slug = dms.dm_slug(uuid.UUID(bob.id), uuid.UUID(alice.id))
    if await rooms.find_room(slug) is None:
        await dms.send(bob, "alice", "Hi Alice! Could the haiku prompt do a senryu variant too?")
        await dms.send(alice, "bob", "Good idea, I'll add a style variable this week.")

    # Carol wants new prompts of the creators she follows in the app, not by email.
    await preferences.update_settings(
        carol.id,
        NotificationSettingsPatch(types={"prompt.published": TypeSettingPatch(email=False)}),
    )

    # Alice has been away for two days: her digest goes out (an .eml file in `make run`).
    await get_redis().set(f"hub:seen:{alice.id}", f"{time.time() - 2 * 86400:.0f}")
    queued = await digests.send_digests()
    rows = await fetch("SELECT count(*) AS n FROM moderation_cases WHERE status = 'open'")
    log.info("seed.community", digests_queued=queued, open_reports=rows[0]["n"])
