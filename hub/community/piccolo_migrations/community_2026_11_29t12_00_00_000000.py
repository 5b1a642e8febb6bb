from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "notification groups and settings, blocks"

# Groups: a burst of notifications of one kind about one thing ("@bob and 4 others followed
# you") is one list item. Every event keeps its own row (so `dedupe_key` still works); the
# first one is the group's head (`group_id` NULL), later ones point at it and bump its
# `group_size` and `last_at`. Lists and unread counts read heads only. `in_app` is false for a
# notification the user wanted by email only: it is kept for the digest but never listed.
# Settings: per-kind overrides of the defaults (in-app and email on) and the digest switch.
SQL = """
ALTER TABLE notifications
    ADD COLUMN group_key varchar(200),
    ADD COLUMN group_id uuid REFERENCES notifications (id) ON DELETE CASCADE,
    ADD COLUMN group_size integer NOT NULL DEFAULT 1 CHECK (group_size >= 1),
    ADD COLUMN last_at timestamptz,
    ADD COLUMN in_app boolean NOT NULL DEFAULT true
;;
UPDATE notifications SET last_at = created_at
;;
ALTER TABLE notifications ALTER COLUMN last_at SET NOT NULL, ALTER COLUMN last_at SET DEFAULT now()
;;
CREATE INDEX notifications_heads_idx ON notifications (user_id, last_at DESC, id DESC)
    WHERE group_id IS NULL AND in_app
;;
CREATE INDEX notifications_unread_heads_idx ON notifications (user_id)
    WHERE group_id IS NULL AND in_app AND read_at IS NULL
;;
CREATE INDEX notifications_open_groups_idx ON notifications (user_id, group_key, created_at DESC)
    WHERE group_id IS NULL AND read_at IS NULL AND group_key IS NOT NULL
;;
CREATE INDEX notifications_group_members_idx ON notifications (group_id)
    WHERE group_id IS NOT NULL
;;
CREATE TABLE notification_settings (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    types jsonb NOT NULL DEFAULT '{}'::jsonb,
    email_digest boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now()
)
;;
CREATE TABLE blocks (
    blocker_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
)
;;
CREATE INDEX blocks_blocked_idx ON blocks (blocked_id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "community", DESCRIPTION, SQL)
