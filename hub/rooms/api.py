"""Chat rooms REST routes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from hub.platform.auth import CurrentUser, Viewer
from hub.platform.pagination import Cursor, Limit
from hub.rooms import dms, messages, reads, service
from hub.rooms.schemas import (
    BanCreate,
    BanOut,
    DirectMessageIn,
    DirectMessageOut,
    MemberAdd,
    MessageCreate,
    MessageOut,
    MessagePage,
    ReadIn,
    ReadState,
    RoomCreate,
    RoomOut,
    RoomPage,
)


class RoomsController(Controller):
    path = "/rooms"
    tags = ["community"]

    @get("/", exclude_from_auth=True, summary="Rooms: public ones, and private ones you belong to")
    async def list_rooms(
        self, viewer: Viewer, limit: Limit = 20, cursor: Cursor = None
    ) -> RoomPage:
        items, next_cursor = await service.list_rooms(viewer, cursor, limit)
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
    async def get_room(self, viewer: Viewer, slug: FromPath[str]) -> RoomOut:
        room = await service.readable_room(slug, viewer)
        return await service.room_for_viewer(room, viewer)

    @get("/{slug:str}/messages", exclude_from_auth=True, summary="Message history, newest first")
    async def list_messages(
        self,
        viewer: Viewer,
        slug: FromPath[str],
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> MessagePage:
        items, next_cursor = await messages.list_messages(slug, viewer, cursor, limit)
        return MessagePage(items=items, next_cursor=next_cursor)

    @post(
        "/{slug:str}/messages",
        status_code=HTTP_201_CREATED,
        summary="Post a message",
        description="The same path as a realtime publish to rooms:<slug>: validated, rate-limited "
        "(10 per 10 s per room), persisted, then fanned out as `room.message`.",
    )
    async def post_message(
        self,
        request: Request[CurrentUser, Any, Any],
        slug: FromPath[str],
        data: JSONBody[MessageCreate],
    ) -> MessageOut:
        return await messages.post_message(slug, request.user, data.text)

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
        slug: FromPath[str],
        message_id: FromPath[str],
        data: JSONBody[MessageCreate],
    ) -> MessageOut:
        return await messages.edit_message(slug, request.user, message_id, data.text)

    @delete(
        "/{slug:str}/messages/{message_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a message (author, room owner or moderator)",
    )
    async def delete_message(
        self,
        request: Request[CurrentUser, Any, Any],
        slug: FromPath[str],
        message_id: FromPath[str],
    ) -> None:
        await messages.delete_message(slug, request.user, message_id)

    @post(
        "/{slug:str}/bans",
        status_code=HTTP_201_CREATED,
        summary="Ban a user from posting (owner or moderator)",
    )
    async def ban(
        self,
        request: Request[CurrentUser, Any, Any],
        slug: FromPath[str],
        data: JSONBody[BanCreate],
    ) -> BanOut:
        handle, until = await service.ban(slug, request.user, data.handle, data.minutes)
        return BanOut(room=slug, handle=handle, until=until)

    @post(
        "/{slug:str}/read",
        status_code=HTTP_200_OK,
        summary="Mark the room read (up to a message, or all)",
        description='`{message_id?}`: moves your "last read" marker forward to that message '
        "(never back), or to the newest message. Answers your unread count; your other tabs "
        "get `room.read` on `notifications#<you>`. Having a marker makes the room one of yours "
        "(`GET /me/rooms`) with live `room.unread` counts.",
    )
    async def mark_read(
        self, request: Request[CurrentUser, Any, Any], slug: FromPath[str], data: JSONBody[ReadIn]
    ) -> ReadState:
        room = await service.readable_room(slug, request.user)
        return await reads.mark_read(room, request.user.id, data.message_id)

    @post(
        "/{slug:str}/members",
        status_code=HTTP_204_NO_CONTENT,
        summary="Add a member (owner or moderator)",
    )
    async def add_member(
        self,
        request: Request[CurrentUser, Any, Any],
        slug: FromPath[str],
        data: JSONBody[MemberAdd],
    ) -> None:
        await service.add_member(slug, request.user, data.handle)

    @delete(
        "/{slug:str}/members/{handle:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove a member (owner, moderator, or leave yourself)",
    )
    async def remove_member(
        self, request: Request[CurrentUser, Any, Any], slug: FromPath[str], handle: FromPath[str]
    ) -> None:
        await service.remove_member(slug, request.user, handle)


class MyRoomsController(Controller):
    path = "/me"
    tags = ["community"]

    @get(
        "/rooms",
        summary="My rooms, most recently active first, with unread counts",
        description="Rooms you own or are a member of (private rooms, direct conversations) "
        "and rooms you follow (you marked them read or posted there), each with "
        "`unread_count` (messages by others after your marker, up to 100), `last_read_at`, "
        "`last_message` and, for direct conversations, `peer`. Counts change live as "
        "`room.unread` on `notifications#<you>`.",
    )
    async def my_rooms(
        self, request: Request[CurrentUser, Any, Any], limit: Limit = 20, cursor: Cursor = None
    ) -> RoomPage:
        items, next_cursor = await reads.my_rooms(request.user.id, cursor, limit)
        return RoomPage(items=items, next_cursor=next_cursor)

    @post(
        "/dms",
        status_code=HTTP_201_CREATED,
        summary="Send a direct message",
        description="`{handle, text}`. The first message creates the private two-person room "
        "(`dm-...`, the same one whoever writes first) and tells the other person "
        "(`dm.new`); later messages can go here too, or to the room like any other "
        "(`POST /rooms/{slug}/messages`, or a realtime publish to `rooms:<slug>`). 403 when "
        "either of you blocked the other; 422 to yourself; 404 for an unknown handle.",
    )
    async def send_dm(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[DirectMessageIn]
    ) -> DirectMessageOut:
        return await dms.send(request.user, data.handle, data.text)
