"""Notification settings: per kind, in-app on/off and email digest on/off; and the digest itself.

Defaults are on. A row holds only what the user changed (`types` overrides per kind), so a new
kind needs no migration and most users have no row at all. The settings are read where a
notification is created: both channels off means nothing is stored; in-app off means it is
stored for the email digest only (`in_app` false: never listed, counted or pushed). The email
side is read again when the digest is made, so turning it off (or the unsubscribe link) acts
at once.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgspec

from hub import outbox
from hub.community.schemas import (
    NotificationKind,
    NotificationSettingsOut,
    NotificationSettingsPatch,
    TypeSetting,
)
from hub.platform.db import fetch, fetchrow

#: Every kind of notification, with the words a settings page shows for it.
KINDS: dict[NotificationKind, str] = {
    "follower.new": "Someone follows you",
    "review.new": "Someone reviews one of your prompts",
    "sale.earned": "You earn money from a sale",
    "prompt.published": "A creator you follow publishes a prompt",
    "prompt.version": "A creator you follow releases a new version",
    "mention": "Someone mentions you in a chat or a review reply",
    "dm.new": "Someone starts a direct conversation with you",
    "report.resolved": "A moderator reviewed something you reported",
}


def _types(raw: Any) -> dict[str, dict[str, bool]]:
    if raw is None:
        return {}
    return raw if isinstance(raw, dict) else json.loads(raw)


def _setting(overrides: dict[str, dict[str, bool]], kind: str) -> tuple[bool, bool]:
    own = overrides.get(kind) or {}
    return bool(own.get("in_app", True)), bool(own.get("email", True))


async def get_settings(user_id: str) -> NotificationSettingsOut:
    row = await fetchrow(
        "SELECT types, email_digest FROM notification_settings WHERE user_id = $1",
        uuid.UUID(user_id),
    )
    overrides = _types(row["types"]) if row else {}
    types: dict[str, TypeSetting] = {}
    for kind, label in KINDS.items():
        in_app, email = _setting(overrides, kind)
        types[kind] = TypeSetting(in_app=in_app, email=email, label=label)
    return NotificationSettingsOut(email_digest=row["email_digest"] if row else True, types=types)


async def update_settings(
    user_id: str, patch: NotificationSettingsPatch
) -> NotificationSettingsOut:
    """Apply the fields sent (per kind: `in_app`, `email`; `email_digest`), keep the rest."""
    uid = uuid.UUID(user_id)
    async with outbox.transaction():
        await fetch(
            "INSERT INTO notification_settings (user_id) VALUES ($1) ON CONFLICT DO NOTHING", uid
        )
        row = await fetchrow(
            "SELECT types, email_digest FROM notification_settings WHERE user_id = $1 FOR UPDATE",
            uid,
        )
        assert row is not None
        overrides = _types(row["types"])
        for kind, change in (patch.types or {}).items():
            own = dict(overrides.get(kind) or {})
            if change.in_app is not None:
                own["in_app"] = change.in_app
            if change.email is not None:
                own["email"] = change.email
            overrides[kind] = {k: v for k, v in own.items() if v is False}  # keep overrides only
            if not overrides[kind]:
                del overrides[kind]
        digest = row["email_digest"] if patch.email_digest is None else patch.email_digest
        await fetch(
            "UPDATE notification_settings SET types = $2::jsonb, email_digest = $3, "
            "updated_at = now() WHERE user_id = $1",
            uid,
            json.dumps(overrides),
            digest,
        )
        out = await get_settings(user_id)
        await outbox.publish(
            f"notifications#{user_id}",
            {"type": "notification_settings.updated", "settings": msgspec.to_builtins(out)},
        )
    return out


async def set_email_digest(user_id: uuid.UUID, enabled: bool) -> None:
    """The unsubscribe link's effect (no sign-in): the digest on or off for this user."""
    await fetch(
        "INSERT INTO notification_settings (user_id, email_digest) VALUES ($1, $2) "
        "ON CONFLICT (user_id) DO UPDATE SET email_digest = EXCLUDED.email_digest, "
        "updated_at = now()",
        user_id,
        enabled,
    )


async def delivery(user_id: uuid.UUID, kind: str) -> tuple[bool, bool]:
    """(in_app, email) for one notification of `kind` to `user_id`."""
    row = await fetchrow("SELECT types FROM notification_settings WHERE user_id = $1", user_id)
    return _setting(_types(row["types"]) if row else {}, kind)


async def email_kinds(user_id: uuid.UUID) -> set[str]:
    """The kinds this user wants in the email digest."""
    row = await fetchrow("SELECT types FROM notification_settings WHERE user_id = $1", user_id)
    overrides = _types(row["types"]) if row else {}
    return {kind for kind in KINDS if _setting(overrides, kind)[1]}


async def delivery_many(user_ids: list[uuid.UUID], kind: str) -> dict[uuid.UUID, tuple[bool, bool]]:
    """(in_app, email) per user for a fan-out batch; users absent from the result have the
    defaults (both on)."""
    rows = await fetch(
        "SELECT user_id, types FROM notification_settings WHERE user_id = ANY($1::uuid[]) "
        "AND types ? $2",
        user_ids,
        kind,
    )
    return {r["user_id"]: _setting(_types(r["types"]), kind) for r in rows}
