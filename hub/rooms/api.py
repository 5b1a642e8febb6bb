"""Chat rooms REST routes."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from hub.auth import CurrentUser, optional_user
from hub.rooms import service
from hub.rooms.schemas import (
    BanCreate,
    BanOut,
    MemberAdd,
    MessageCreate,
    MessageOut,
    MessagePage,
    RoomCreate,
    RoomOut,
    RoomPage,
)

Limit = Annotated[int, Parameter(ge=1, le=100, description="page size (default 20, at most 100)")]
Cursor = Annotated[
    str | None, Parameter(max_length=500, description="next_cursor of the previous page")
]


class RoomsController(Controller):
    path = "/rooms"
    tags = ["community"]

    @get("/", exclude_from_auth=True, summary="Rooms: public ones, and private ones you belong to")
    async def list_rooms(
        self, request: Request[Any, Any, Any], limit: Limit = 20, cursor: Cursor = None
    ) -> RoomPage:
        items, next_cursor = await service.list_rooms(await optional_user(request), cursor, limit)
        return RoomPage(items=items, next_cursor=next_cursor)

    @post("/", status_code=HTTP_201_CREATED, summary="Create a room (you become its owner)")
    async def create_room(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[RoomCreate]
    ) -> RoomOut:
        return await service.create_room(request.user, data.slug, data.title, data.visibility)

    @get(
        "/{slug:str}",
        exclude_from_auth=True,
        summary="One room (404 for a private room you are not in)",
    )
    async def get_room(self, request: Request[Any, Any, Any], slug: str) -> RoomOut:
        user = await optional_user(request)
        room = await service.readable_room(slug, user)
        return service.room_out(room, await service.is_member(room, user.id if user else None))

    @get("/{slug:str}/messages", exclude_from_auth=True, summary="Message history, newest first")
    async def list_messages(
        self, request: Request[Any, Any, Any], slug: str, limit: Limit = 20, cursor: Cursor = None
    ) -> MessagePage:
        items, next_cursor = await service.list_messages(
            slug, await optional_user(request), cursor, limit
        )
        return MessagePage(items=items, next_cursor=next_cursor)

    @post(
        "/{slug:str}/messages",
        status_code=HTTP_201_CREATED,
        summary="Post a message",
        description="The same path as a realtime publish to rooms:<slug>: validated, rate-limited "
        "(10 per 10 s per room), persisted, then fanned out as `room.message`.",
    )
    async def post_message(
        self, request: Request[CurrentUser, Any, Any], slug: str, data: JSONBody[MessageCreate]
    ) -> MessageOut:
        return await service.post_message(slug, request.user, data.text)

    @patch(
        "/{slug:str}/messages/{message_id:str}",
        summary="Edit my message (its author)",
        description="`{text}` (1-2000 characters). Only the author may edit (403 otherwise; "
        "moderators delete instead). Sets `edited_at` and fans out `room.message_edited` "
        "`{id, room, text, edited_at}`.",
    )
    async def edit_message(
        self,
        request: Request[CurrentUser, Any, Any],
        slug: str,
        message_id: str,
        data: JSONBody[MessageCreate],
    ) -> MessageOut:
        return await service.edit_message(slug, request.user, message_id, data.text)

    @delete(
        "/{slug:str}/messages/{message_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a message (author, room owner or moderator)",
    )
    async def delete_message(
        self, request: Request[CurrentUser, Any, Any], slug: str, message_id: str
    ) -> None:
        await service.delete_message(slug, request.user, message_id)

    @post(
        "/{slug:str}/bans",
        status_code=HTTP_201_CREATED,
        summary="Ban a user from posting (owner or moderator)",
    )
    async def ban(
        self, request: Request[CurrentUser, Any, Any], slug: str, data: JSONBody[BanCreate]
    ) -> BanOut:
        handle, until = await service.ban(slug, request.user, data.handle, data.minutes)
        return BanOut(room=slug, handle=handle, until=until)

    @post(
        "/{slug:str}/members",
        status_code=HTTP_204_NO_CONTENT,
        summary="Add a member (owner or moderator)",
    )
    async def add_member(
        self, request: Request[CurrentUser, Any, Any], slug: str, data: JSONBody[MemberAdd]
    ) -> None:
        await service.add_member(slug, request.user, data.handle)

    @delete(
        "/{slug:str}/members/{handle:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove a member (owner, moderator, or leave yourself)",
    )
    async def remove_member(
        self, request: Request[CurrentUser, Any, Any], slug: str, handle: str
    ) -> None:
        await service.remove_member(slug, request.user, handle)
