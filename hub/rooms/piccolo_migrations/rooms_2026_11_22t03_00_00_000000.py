from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-22T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "chat rooms, members, messages, bans"

SQL = """
CREATE TABLE rooms (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug varchar(64) NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{1,63}$'),
    title varchar(120) NOT NULL,
    visibility varchar(16) NOT NULL CHECK (visibility IN ('public', 'private')),
    kind varchar(16) NOT NULL DEFAULT 'custom' CHECK (kind IN ('lobby', 'creator', 'prompt', 'custom')),
    owner_id uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
;;
CREATE UNIQUE INDEX rooms_slug_key ON rooms (slug)
;;
CREATE INDEX rooms_public_created_idx ON rooms (created_at DESC, id DESC) WHERE visibility = 'public'
;;
CREATE TABLE room_members (
    room_id uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role varchar(16) NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
)
;;
CREATE INDEX room_members_user_idx ON room_members (user_id)
;;
CREATE TABLE room_messages (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    room_id uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    author_id uuid REFERENCES users (id) ON DELETE SET NULL,
    text varchar(2000) NOT NULL CHECK (length(btrim(text)) > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted boolean NOT NULL DEFAULT false,
    deleted_at timestamptz
)
;;
CREATE INDEX room_messages_room_created_idx ON room_messages (room_id, created_at DESC, id DESC)
;;
CREATE INDEX room_messages_author_idx ON room_messages (author_id)
;;
CREATE TABLE room_bans (
    room_id uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    until timestamptz NOT NULL,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
)
;;
INSERT INTO rooms (slug, title, visibility, kind) VALUES ('lobby', 'Lobby', 'public', 'lobby')
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "rooms", DESCRIPTION, SQL)
