from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "direct messages, read markers, mentions in messages"

# A direct conversation is a private room of kind 'dm' with exactly its two members; its slug
# is derived from the pair (`dm-` + a hash of both ids), so the first message of either side
# finds or creates the same room. `room_reads` is each user's "last read" marker per room
# (it only moves forward); a row also means the user follows the room's unread count.
# `mentions` keeps the users a message named (`[{id, handle}]`), so links survive renames.
SQL = """
ALTER TABLE rooms DROP CONSTRAINT rooms_kind_check
;;
ALTER TABLE rooms ADD CONSTRAINT rooms_kind_check
    CHECK (kind IN ('lobby', 'creator', 'prompt', 'custom', 'dm'))
;;
ALTER TABLE rooms ADD CONSTRAINT rooms_dm_private CHECK (kind <> 'dm' OR visibility = 'private')
;;
ALTER TABLE room_messages ADD COLUMN mentions jsonb NOT NULL DEFAULT '[]'::jsonb
;;
CREATE TABLE room_reads (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    last_read_at timestamptz NOT NULL,
    last_read_message_id uuid,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, room_id)
)
;;
CREATE INDEX room_reads_room_idx ON room_reads (room_id, updated_at)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "rooms", DESCRIPTION, SQL)
