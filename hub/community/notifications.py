"""Notifications: persisted with unread state, created inside the transaction of their cause
(a follow, a review, a sale, a followed creator's new prompt) together with the outbox row
that publishes it to `notifications#<user_id>`, so each one goes out exactly when (and only
if) its cause commits.

Each one reads as a sentence (`text`) about a `subject`, with the `url` of the page it is
about, so every client shows the same words. Read state changes are published to the same
private channel (`notifications.read`), so every open tab and device updates its unread count.

Bursts are grouped: a notification whose kind groups (follows, reviews of one prompt, sales
of one prompt, mentions in one room) joins the user's unread group of the same key started
within `HUB_NOTIFICATION_GROUP_WINDOW_SECONDS`, if any, instead of becoming a new item. Each
event keeps its own row (its `dedupe_key` still counts); lists and unread counts read only
the groups' heads, whose sentence covers the group ("@bob and 4 others followed you"). A
group that grows is pushed as `notification.updated` (same id, moved to the top).

The user's settings decide per kind (see `preferences`): nothing is stored when both in-app
and email are off, and an email-only notification is stored for the digest but never listed.
Notifications from someone the user blocked are dropped.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import msgspec

from hub import outbox
from hub.community import blocks, preferences
from hub.community.schemas import (
    MarkRead,
    MarkReadResult,
    NotificationOut,
    NotificationPage,
    PromptRef,
    Subject,
    UserRef,
)
from hub.platform.db import fetch, fetchrow
from hub.platform.errors import bad_request
from hub.platform.pagination import decode_cursor, page
from hub.platform.settings import get_settings

_SELECT = (
    "SELECT n.id, n.user_id, n.kind, n.review_id, n.read_at, n.created_at, n.data, "
    "n.group_id, n.group_size, n.last_at, n.in_app, "
    "a.id AS actor_id, a.handle AS actor_handle, a.display_name AS actor_display_name, "
    "p.id AS prompt_id, p.title AS prompt_title, p.private_mode, p.price_cents, p.model, "
    "p.tags, r.rating, g.actor_count, g.amount_total, g.actors "
    "FROM notifications n "
    "LEFT JOIN users a ON a.id = n.actor_id "
    "LEFT JOIN prompts p ON p.id = n.prompt_id "
    "LEFT JOIN reviews r ON r.id = n.review_id "
    # A group's figures: distinct actors, the summed amount, the latest three actors.
    "LEFT JOIN LATERAL (SELECT count(DISTINCT m.actor_id) AS actor_count, "
    "sum(coalesce((m.data->>'amount_cents')::bigint, 0)) AS amount_total, "
    "(SELECT json_agg(x ORDER BY x.at DESC) FROM (SELECT u.id, u.handle, u.display_name, "
    "max(m2.created_at) AS at FROM notifications m2 JOIN users u ON u.id = m2.actor_id "
    "WHERE m2.id = n.id OR m2.group_id = n.id GROUP BY u.id, u.handle, u.display_name "
    "ORDER BY at DESC LIMIT 3) x) AS actors "
    "FROM notifications m WHERE n.group_size > 1 AND (m.id = n.id OR m.group_id = n.id)"
    ") g ON true "
)


def prompt_ref(row: dict[str, Any], prefix: str = "prompt_") -> PromptRef | None:
    if row.get(f"{prefix}id") is None:
        return None
    return PromptRef(
        id=str(row[f"{prefix}id"]),
        title=row[f"{prefix}title"],
        private_mode=row["private_mode"],
        price_cents=row["price_cents"],
        model=row["model"],
        tags=list(row["tags"] or []),
    )


def _quoted(title: str) -> str:
    return f"\u201c{title}\u201d"


def _money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


class Group(msgspec.Struct):
    """What a sentence needs to know of a group: events, distinct actors, summed amount."""

    count: int = 1
    actor_count: int = 1
    amount_cents: int = 0


_SUBJECT_WORDS = {
    "message": "a message",
    "prompt": "a prompt",
    "review": "a review",
    "user": "a user",
}
_OUTCOMES = {
    "delete": "it was removed",
    "ban": "its author was suspended",
    "dismiss": "no action was needed",
}


def _others(n: int) -> str:
    return f"{n} other{'' if n == 1 else 's'}"


def sentence(
    kind: str,
    actor: UserRef | None,
    prompt: PromptRef | None,
    rating: int | None,
    data: dict[str, Any],
    group: Group | None = None,
) -> tuple[str, str, Subject | None]:
    """(text, url, subject) of a notification: the one place its words are chosen."""
    group = group or Group()
    who = f"@{actor.handle}" if actor else "Someone"
    if group.actor_count > 1:
        who = f"{who} and {_others(group.actor_count - 1)}"
    title = _quoted(prompt.title) if prompt else "a prompt"
    prompt_url = f"/prompts/{prompt.id}" if prompt else "/notifications"
    prompt_subject = Subject(type="prompt", id=prompt.id, title=prompt.title) if prompt else None
    room = data.get("room")
    room_subject = Subject(type="room", id=room, title=f"#{room}") if room else None
    if kind == "follower.new":
        url = f"/creators/{actor.handle}" if actor else "/notifications"
        subject = Subject(type="user", id=actor.id, title=actor.handle) if actor else None
        return f"{who} followed you", url, subject
    if kind == "review.new":
        if group.count > 1:
            return f"{who} reviewed {title}", prompt_url + "#reviews-h", prompt_subject
        stars = f"{rating} star{'' if rating == 1 else 's'}" if rating else "a review"
        return f"{who} rated {title} {stars}", prompt_url + "#reviews-h", prompt_subject
    if kind == "prompt.published":
        return f"{who} published {title}", prompt_url, prompt_subject
    if kind == "prompt.version":
        version = data.get("version")
        return f"{who} released version {version} of {title}", prompt_url, prompt_subject
    if kind == "sale.earned":
        if group.count > 1:
            amount = _money(group.amount_cents)
            return (
                f"You earned {amount} from {group.count} sales of {title}",
                "/dashboard",
                prompt_subject,
            )
        amount = _money(int(data.get("amount_cents") or 0))
        return f"You earned {amount} from {title}", "/dashboard", prompt_subject
    if kind == "mention":
        if room:
            times = f" {group.count} times" if group.count > 1 and group.actor_count == 1 else ""
            return f"{who} mentioned you{times} in #{room}", f"/chat/{room}", room_subject
        return (
            f"{who} mentioned you in a reply about {title}",
            prompt_url + "#reviews-h",
            prompt_subject,
        )
    if kind == "dm.new":
        return f"{who} sent you a direct message", f"/chat/{room}", room_subject
    if kind == "report.resolved":
        what = _SUBJECT_WORDS.get(str(data.get("subject_type")), "something")
        outcome = _OUTCOMES.get(str(data.get("action")), "it was reviewed")
        subject = Subject(type="report", id=str(data.get("case_id")), title=what)
        return (
            f"A moderator reviewed your report about {what}: {outcome}",
            "/notifications",
            subject,
        )
    return f"{who}: {kind}", prompt_url, prompt_subject


def _out(row: dict[str, Any]) -> NotificationOut:
    actor = (
        UserRef(
            id=str(row["actor_id"]),
            handle=row["actor_handle"],
            display_name=row["actor_display_name"],
        )
        if row["actor_id"] is not None
        else None
    )
    prompt = prompt_ref(row)
    data = row["data"] if isinstance(row["data"], dict) else json.loads(row["data"] or "{}")
    group = Group()
    actors = [actor] if actor else []
    if row.get("group_size", 1) > 1 and row.get("actor_count") is not None:
        group = Group(
            count=row["group_size"],
            actor_count=max(1, int(row["actor_count"])),
            amount_cents=int(row["amount_total"] or 0),
        )
        raw = row["actors"]
        listed = raw if isinstance(raw, list) else json.loads(raw or "[]")
        actors = [
            UserRef(id=str(a["id"]), handle=a["handle"], display_name=a["display_name"])
            for a in listed
        ]
        actor = actors[0] if actors else actor  # the sentence names the latest one
    text, url, subject = sentence(row["kind"], actor, prompt, row["rating"], data, group)
    return NotificationOut(
        id=str(row["id"]),
        type=row["kind"],
        actor=actor,
        subject=subject,
        url=url,
        text=text,
        prompt=prompt,
        review_id=str(row["review_id"]) if row["review_id"] else None,
        rating=row["rating"],
        read=row["read_at"] is not None,
        created_at=row["created_at"],
        amount_cents=group.amount_cents if group.count > 1 else data.get("amount_cents"),
        version=data.get("version"),
        run_id=data.get("run_id"),
        count=group.count,
        actors=actors,
        last_at=row.get("last_at") or row["created_at"],
        room=data.get("room"),
        message_id=data.get("message_id"),
        excerpt=data.get("excerpt"),
    )


async def notify(
    user_id: uuid.UUID,
    kind: str,
    dedupe_key: str,
    *,
    actor_id: uuid.UUID | None = None,
    prompt_id: uuid.UUID | None = None,
    review_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> uuid.UUID | None:
    """Record a notification in the caller's transaction; None when an identical one
    (same `dedupe_key` for that user) exists, e.g. a follow after an unfollow, when the user
    turned this kind off, or when they blocked the actor. Joins the user's open group of the
    same kind and subject, if any (see the module's docstring)."""
    if actor_id is not None and await blocks.is_blocked(user_id, actor_id):
        return None
    in_app, email = await preferences.delivery(user_id, kind)
    if not (in_app or email):
        return None
    group_key = _group_key(kind, prompt_id, data or {}) if in_app else None
    head = None
    if group_key is not None:
        # One group per (user, key) even when two events arrive at once.
        await fetch(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{user_id}:{group_key}"
        )
        head = await fetchrow(
            "SELECT id FROM notifications WHERE user_id = $1 AND group_key = $2 "
            "AND group_id IS NULL AND read_at IS NULL AND in_app "
            "AND created_at > now() - make_interval(secs => $3) "
            "ORDER BY created_at DESC LIMIT 1",
            user_id,
            group_key,
            float(get_settings().notification_group_window_seconds),
        )
    row = await fetchrow(
        "INSERT INTO notifications (user_id, kind, dedupe_key, actor_id, prompt_id, review_id, "
        "data, group_key, group_id, in_app) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10) "
        "ON CONFLICT (user_id, dedupe_key) DO NOTHING RETURNING id",
        user_id,
        kind,
        dedupe_key,
        actor_id,
        prompt_id,
        review_id,
        json.dumps(data or {}),
        group_key,
        head["id"] if head else None,
        in_app,
    )
    if row is not None and head is not None:
        await fetch(
            # Unread again if it was read meanwhile: there is news in it.
            "UPDATE notifications SET group_size = group_size + 1, last_at = now(), "
            "read_at = NULL WHERE id = $1",
            head["id"],
        )
    if row is None:
        return None
    await _publish_created(row["id"])
    return row["id"]


def _group_key(kind: str, prompt_id: uuid.UUID | None, data: dict[str, Any]) -> str | None:
    """What makes two notifications one item: their kind and what they are about."""
    if kind == "follower.new":
        return kind
    if kind in ("review.new", "sale.earned") and prompt_id is not None:
        return f"{kind}:{prompt_id}"
    if kind == "mention" and data.get("room"):
        return f"mention:{data['room']}"
    return None


async def notify_many(
    user_ids: list[uuid.UUID],
    kind: str,
    dedupe_key: str,
    *,
    actor_id: uuid.UUID | None = None,
    prompt_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> list[uuid.UUID]:
    """One notification per user (a fan-out batch), skipping those who already have it, who
    turned this kind off, or who blocked the actor."""
    settings = await preferences.delivery_many(user_ids, kind)
    blocked = await blocks.blockers_of(actor_id, user_ids) if actor_id is not None else set()
    targets: list[uuid.UUID] = []
    in_app: list[bool] = []
    for uid in user_ids:
        wanted = settings.get(uid, (True, True))
        if uid in blocked or not (wanted[0] or wanted[1]):
            continue
        targets.append(uid)
        in_app.append(wanted[0])
    if not targets:
        return []
    rows = await fetch(
        "INSERT INTO notifications (user_id, kind, dedupe_key, actor_id, prompt_id, data, in_app) "
        "SELECT u, $2, $3, $4, $5, $6::jsonb, i FROM unnest($1::uuid[], $7::bool[]) AS t(u, i) "
        "ON CONFLICT (user_id, dedupe_key) DO NOTHING RETURNING id",
        targets,
        kind,
        dedupe_key,
        actor_id,
        prompt_id,
        json.dumps(data or {}),
        in_app,
    )
    ids = [r["id"] for r in rows]
    await _publish_created_many(ids)
    return ids


async def _publish_created(notification_id: uuid.UUID | None) -> None:
    """In the transaction that creates it (`notify` calls it): the outbox row pushing the new
    notification to its user's private channel; when it joined a group, the group's head as
    `notification.updated`. Email-only ones are not pushed."""
    if notification_id is None:
        return
    row = await fetchrow(
        _SELECT + "WHERE n.id = (SELECT coalesce(group_id, id) FROM notifications WHERE id = $1)",
        notification_id,
    )
    if row is None or not row["in_app"]:
        return
    grew = row["id"] != notification_id
    unread = await unread_count(row["user_id"])
    await outbox.publish(
        f"notifications#{row['user_id']}",
        {
            "type": "notification.updated" if grew else "notification.created",
            "notification": _to_builtins(_out(row)),
            "unread_count": unread,
        },
    )


async def _publish_created_many(notification_ids: list[uuid.UUID]) -> None:
    """Like `_publish_created`, for a batch (a fan-out; `notify_many` calls it)."""
    if not notification_ids:
        return
    rows = await fetch(_SELECT + "WHERE n.id = ANY($1::uuid[]) AND n.in_app", notification_ids)
    users = list({r["user_id"] for r in rows})
    counts = {
        r["user_id"]: int(r["n"])
        for r in await fetch(
            "SELECT user_id, count(*) AS n FROM notifications WHERE user_id = ANY($1::uuid[]) "
            f"AND {_UNREAD_HEAD} GROUP BY user_id",
            users,
        )
    }
    await outbox.publish_many(
        [
            (
                f"notifications#{row['user_id']}",
                {
                    "type": "notification.created",
                    "notification": _to_builtins(_out(row)),
                    "unread_count": counts.get(row["user_id"], 0),
                },
            )
            for row in rows
        ]
    )


def _to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


_UNREAD_HEAD = "group_id IS NULL AND in_app AND read_at IS NULL"


async def unread_count(user_id: uuid.UUID) -> int:
    """Unread items as listed: a group counts once."""
    row = await fetchrow(
        f"SELECT count(*) AS n FROM notifications WHERE user_id = $1 AND {_UNREAD_HEAD}", user_id
    )
    return int(row["n"]) if row else 0


async def unread_since(
    user_id: uuid.UUID, since: datetime, limit: int = 500
) -> list[NotificationOut]:
    """Unread items (groups as one, email-only ones too) with news after `since`, newest first:
    what an email digest lists."""
    rows = await fetch(
        _SELECT + "WHERE n.user_id = $1 AND n.group_id IS NULL AND n.read_at IS NULL "
        "AND n.last_at > $2 ORDER BY n.last_at DESC, n.id DESC LIMIT $3",
        user_id,
        since,
        limit,
    )
    return [_out(r) for r in rows]


async def list_notifications(
    user_id: str, unread: bool | None, cursor: str | None, limit: int
) -> NotificationPage:
    uid = uuid.UUID(user_id)
    key, after = decode_cursor(cursor, "notifications", datetime) if cursor else (None, None)
    state = {None: "", True: "AND n.read_at IS NULL ", False: "AND n.read_at IS NOT NULL "}[unread]
    rows = await fetch(
        _SELECT + "WHERE n.user_id = $1 AND n.group_id IS NULL AND n.in_app " + state + "AND "
        "($2::timestamptz IS NULL OR (n.last_at, n.id) < ($2, $3)) "
        "ORDER BY n.last_at DESC, n.id DESC LIMIT $4",
        uid,
        key,
        after,
        limit + 1,
    )
    items, next_cursor = page(rows, limit, "notifications", lambda r: r["last_at"])
    return NotificationPage(
        items=[_out(r) for r in items],
        next_cursor=next_cursor,
        unread_count=await unread_count(uid),
    )


async def mark_read(user_id: str, body: MarkRead) -> MarkReadResult:
    """Mark some (`ids`) or all of the user's notifications read. Idempotent; ids that are not
    the user's are ignored (they are not revealed to exist). What changed is published to the
    user's channel as `notifications.read`, so their other tabs and devices follow."""
    uid = uuid.UUID(user_id)
    async with outbox.transaction():
        return await _mark_read(uid, body)


async def _mark_read(uid: uuid.UUID, body: MarkRead) -> MarkReadResult:
    # A group is read with its head: its members go with it (and are not reported as items).
    if body.all:
        rows = await fetch(
            "UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL "
            "AND in_app RETURNING id, group_id",
            uid,
        )
    elif body.ids:
        try:
            ids = [uuid.UUID(i) for i in body.ids]
        except ValueError as exc:
            raise bad_request("ids must be notification ids (UUIDs).", "ids") from exc
        rows = await fetch(
            "UPDATE notifications SET read_at = now() WHERE user_id = $1 "
            "AND (id = ANY($2::uuid[]) OR group_id = ANY($2::uuid[])) AND read_at IS NULL "
            "AND in_app RETURNING id, group_id",
            uid,
            ids,
        )
    else:
        raise bad_request("Send `ids` (a list of notification ids) or `all: true`.", "ids")
    rows = [r for r in rows if r["group_id"] is None]
    count = await unread_count(uid)
    if rows:
        await outbox.publish(
            f"notifications#{uid}",
            {
                "type": "notifications.read",
                "ids": [str(r["id"]) for r in rows],
                "all": body.all,
                "unread_count": count,
            },
        )
    return MarkReadResult(updated=len(rows), unread_count=count)
