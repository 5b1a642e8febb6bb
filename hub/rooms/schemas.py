from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

Slug = Annotated[str, msgspec.Meta(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]+$")]
MessageText = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class RoomCreate(msgspec.Struct, forbid_unknown_fields=True):
    slug: Slug
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    visibility: Literal["public", "private"] = "public"


class Author(msgspec.Struct):
    id: str | None
    handle: str | None
    display_name: str | None


class LastMessage(msgspec.Struct):
    id: str
    text: str  # the start of it (140 characters)
    author: Author
    created_at: datetime


class RoomOut(msgspec.Struct):
    id: str
    slug: str
    title: str  # a direct conversation's title is the other person's @handle
    visibility: str
    kind: str  # lobby, creator, prompt, custom, dm
    channel: str
    owner_handle: str | None
    created_at: datetime
    is_member: bool = False
    typing_channel: str = ""  # typing:<slug>, for typing indicators
    peer: Author | None = None  # dm: the other person
    # For the signed-in viewer: messages by others after their "last read" marker (up to 100).
    unread_count: int | None = None
    last_read_at: datetime | None = None
    last_read_message_id: str | None = None
    last_message: LastMessage | None = None  # GET /me/rooms


class RoomPage(msgspec.Struct):
    items: list[RoomOut]
    next_cursor: str | None


class Mention(msgspec.Struct):
    """A user the text names as `@handle`: render that text as a link to `url`."""

    id: str
    handle: str
    url: str


class MessageOut(msgspec.Struct):
    id: str
    room: str
    text: str
    author: Author
    created_at: datetime
    edited_at: datetime | None = None
    mentions: list[Mention] = msgspec.field(default_factory=list)


class MessagePage(msgspec.Struct):
    items: list[MessageOut]
    next_cursor: str | None


class MessageCreate(msgspec.Struct, forbid_unknown_fields=True):
    text: MessageText


class BanCreate(msgspec.Struct, forbid_unknown_fields=True):
    handle: Annotated[str, msgspec.Meta(min_length=1, max_length=30)]
    minutes: Annotated[int, msgspec.Meta(ge=1, le=525600)] = 60


class BanOut(msgspec.Struct):
    room: str
    handle: str
    until: datetime


class MemberAdd(msgspec.Struct, forbid_unknown_fields=True):
    handle: Annotated[str, msgspec.Meta(min_length=1, max_length=30)]


class ReadIn(msgspec.Struct, forbid_unknown_fields=True):
    """Read up to this message (of the room), or up to the newest one when absent."""

    message_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class ReadState(msgspec.Struct):
    room: str
    unread_count: int
    last_read_at: datetime | None
    last_read_message_id: str | None


class DirectMessageIn(msgspec.Struct, forbid_unknown_fields=True):
    handle: Annotated[str, msgspec.Meta(min_length=1, max_length=30)]
    text: MessageText


class DirectMessageOut(msgspec.Struct):
    room: RoomOut
    message: MessageOut
