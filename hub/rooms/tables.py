"""Chat rooms. Constraints and indexes live in the migrations."""

from piccolo.columns import JSONB, UUID, Boolean, Timestamptz, Varchar
from piccolo.table import Table


class Room(Table, tablename="rooms"):
    id = UUID(primary_key=True)
    slug = Varchar(length=64)
    title = Varchar(length=120)
    visibility = Varchar(length=16)
    kind = Varchar(length=16)
    owner_id = UUID(null=True, default=None)
    created_at = Timestamptz()


class RoomMember(Table, tablename="room_members"):
    room_id = UUID()
    user_id = UUID()
    role = Varchar(length=16)
    joined_at = Timestamptz()


class RoomMessage(Table, tablename="room_messages"):
    id = UUID(primary_key=True)
    room_id = UUID()
    author_id = UUID(null=True)
    text = Varchar(length=2000)
    created_at = Timestamptz()
    deleted_at = Timestamptz(null=True, default=None)
    edited_at = Timestamptz(null=True, default=None)
    deleted = Boolean(default=False)
    mentions = JSONB(default="[]")


class RoomRead(Table, tablename="room_reads"):
    user_id = UUID()
    room_id = UUID()
    last_read_at = Timestamptz()
    last_read_message_id = UUID(null=True)
    updated_at = Timestamptz()


class RoomBan(Table, tablename="room_bans"):
    room_id = UUID()
    user_id = UUID()
    until = Timestamptz()
    created_by = UUID(null=True)
    created_at = Timestamptz()
