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


class RoomOut(msgspec.Struct):
    id: str
    slug: str
    title: str
    visibility: str
    kind: str
    channel: str
    owner_handle: str | None
    created_at: datetime
    is_member: bool = False


class RoomPage(msgspec.Struct):
    items: list[RoomOut]
    next_cursor: str | None


class Author(msgspec.Struct):
    id: str | None
    handle: str | None
    display_name: str | None


class MessageOut(msgspec.Struct):
    id: str
    room: str
    text: str
    author: Author
    created_at: datetime
    edited_at: datetime | None = None


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
