"""Community routes: creators and follows, reviews, feed, notifications (thin controllers)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from hub.community import blocks, digests, feed, notifications, preferences, reviews, service
from hub.community import gdpr as _gdpr  # noqa: F401 - registers the GDPR export/erasure hooks
from hub.community.schemas import (
    BlockedPage,
    BlockIn,
    BlockState,
    CreatorOut,
    FeedPage,
    FollowingPage,
    FollowState,
    MarkRead,
    MarkReadResult,
    NotificationPage,
    NotificationSettingsOut,
    NotificationSettingsPatch,
    ReplyIn,
    ReviewIn,
    ReviewOut,
    ReviewPage,
    UnsubscribeIn,
    UnsubscribeOut,
)
from hub.platform.auth import CurrentUser, Viewer
from hub.platform.errors import bad_request
from hub.platform.pagination import Cursor, Limit

Handle = FromPath[Annotated[str, Parameter(max_length=30, pattern=r"^[A-Za-z0-9_]+$")]]


class CreatorsController(Controller):
    path = "/creators"
    tags = ["creators"]

    @get(
        "/{handle:str}",
        exclude_from_auth=True,
        summary="A creator's profile and prompts",
        description="Counts plus a page of the creator's active prompts, newest first "
        "(`?cursor=&limit=` page the prompts). `following` tells whether you follow them.",
    )
    async def creator(
        self,
        viewer: Viewer,
        handle: Handle,
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> CreatorOut:
        return await service.get_creator(handle, viewer.id if viewer else None, cursor, limit)

    @get(
        "/{handle:str}/followers",
        exclude_from_auth=True,
        summary="A creator's followers, newest first",
        description="`{items: [{id, handle, display_name, followed_at}], next_cursor}`; "
        "`followed_at` is when they followed. Unknown or erased handles are 404.",
    )
    async def followers(
        self, handle: Handle, cursor: Cursor = None, limit: Limit = 20
    ) -> FollowingPage:
        return await service.list_followers(handle, cursor, limit)

    @post(
        "/{handle:str}/follow",
        status_code=HTTP_200_OK,
        summary="Follow a creator (idempotent)",
        description="Following someone you already follow changes nothing. You cannot follow "
        "yourself (422).",
    )
    async def follow(self, request: Request[CurrentUser, Any, Any], handle: Handle) -> FollowState:
        return await service.follow(request.user.id, handle)

    @delete(
        "/{handle:str}/follow",
        status_code=HTTP_200_OK,
        summary="Unfollow a creator (idempotent)",
    )
    async def unfollow(
        self, request: Request[CurrentUser, Any, Any], handle: Handle
    ) -> FollowState:
        return await service.unfollow(request.user.id, handle)


class ReviewsController(Controller):
    path = "/prompts/{prompt_id:uuid}/reviews"
    tags = ["reviews"]

    @get("/", exclude_from_auth=True, summary="A prompt's reviews, newest first")
    async def list_reviews(
        self,
        viewer: Viewer,
        prompt_id: FromPath[UUID],
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> ReviewPage:
        return await reviews.list_reviews(prompt_id, viewer.id if viewer else None, cursor, limit)

    @post(
        "/",
        summary="Review a prompt, or edit your review",
        description="Only users with a completed run of the prompt may review it (403 "
        "otherwise), and not its creator. One review per user: posting again edits it "
        "(200) instead of creating one (201). Ratings update in the same transaction.",
        responses={
            200: ResponseSpec(data_container=ReviewOut, description="Your review was edited")
        },
    )
    async def review(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[UUID],
        data: JSONBody[ReviewIn],
    ) -> Response[ReviewOut]:
        out, created = await reviews.upsert_review(prompt_id, request.user.id, data)
        return Response(out, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @post(
        "/{review_id:uuid}/reply",
        status_code=HTTP_200_OK,
        summary="Reply to a review (the prompt's creator, once)",
    )
    async def reply(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[UUID],
        review_id: FromPath[UUID],
        data: JSONBody[ReplyIn],
    ) -> ReviewOut:
        return await reviews.reply(prompt_id, review_id, request.user.id, data)


class MyCommunityController(Controller):
    path = "/me"
    tags = ["community"]

    @get("/following", summary="Creators I follow")
    async def following(
        self, request: Request[CurrentUser, Any, Any], cursor: Cursor = None, limit: Limit = 20
    ) -> FollowingPage:
        return await service.list_following(request.user.id, cursor, limit)

    @get(
        "/feed",
        summary="My activity feed",
        description="New prompts and new versions from creators I follow, newest first. "
        "Also pushed live as `feed.item` on `feed#<my user id>`.",
    )
    async def my_feed(
        self, request: Request[CurrentUser, Any, Any], cursor: Cursor = None, limit: Limit = 20
    ) -> FeedPage:
        return await feed.list_feed(request.user.id, cursor, limit)

    @get(
        "/notifications",
        summary="My notifications",
        description="`unread=true` for unread only, `unread=false` for read only. Also pushed "
        "live as `notification.created` on `notifications#<my user id>`.",
    )
    async def my_notifications(
        self,
        request: Request[CurrentUser, Any, Any],
        unread: FromQuery[bool | None] = None,
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> NotificationPage:
        return await notifications.list_notifications(request.user.id, unread, cursor, limit)

    @post("/notifications/read", status_code=HTTP_200_OK, summary="Mark notifications read")
    async def mark_read(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[MarkRead]
    ) -> MarkReadResult:
        return await notifications.mark_read(request.user.id, data)

    @get(
        "/notification-settings",
        summary="My notification settings",
        description="Per kind: `in_app` (listed, counted, pushed live) and `email` (in the email "
        "digest), both on by default, with a `label` in words; and `email_digest`, the digest "
        "at all.",
    )
    async def notification_settings(
        self, request: Request[CurrentUser, Any, Any]
    ) -> NotificationSettingsOut:
        return await preferences.get_settings(request.user.id)

    @patch(
        "/notification-settings",
        summary="Change my notification settings",
        description='Send only what changes: `{"types": {"follower.new": {"in_app": '
        'false}}, "email_digest": true}`. Applies to notifications created from now on '
        "(in-app) and to the next digest (email). Other tabs get "
        "`notification_settings.updated` on `notifications#<my user id>`.",
    )
    async def update_notification_settings(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[NotificationSettingsPatch]
    ) -> NotificationSettingsOut:
        return await preferences.update_settings(request.user.id, data)

    @get("/blocks", summary="Users I blocked")
    async def blocked(
        self, request: Request[CurrentUser, Any, Any], cursor: Cursor = None, limit: Limit = 20
    ) -> BlockedPage:
        return await blocks.list_blocked(request.user.id, cursor, limit)

    @post(
        "/blocks",
        summary="Block a user",
        description="`{handle}`. They can no longer follow you (their follow ends now), mention "
        "you or send you direct messages. 201 when newly blocked, 200 when already.",
        responses={200: ResponseSpec(data_container=BlockState, description="Already blocked")},
    )
    async def block(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[BlockIn]
    ) -> Response[BlockState]:
        state, created = await blocks.block(request.user.id, data.handle)
        return Response(state, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @delete("/blocks/{handle:str}", status_code=HTTP_200_OK, summary="Unblock a user")
    async def unblock(self, request: Request[CurrentUser, Any, Any], handle: Handle) -> BlockState:
        return await blocks.unblock(request.user.id, handle)


_UNSUBSCRIBED_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body><main><h1>{title}</h1><p>{text}</p><p><a href="/account">Notification settings</a></p>
</main></body></html>"""


class UnsubscribeController(Controller):
    path = "/notifications/unsubscribe"
    tags = ["community"]

    @get(
        "/",
        exclude_from_auth=True,
        summary="Unsubscribe from the email digest (the link in the email)",
        description="`?token=` from the digest email; no sign-in. Turns the digest off and "
        "answers a short HTML page (400 for a token that is not genuine).",
        media_type=MediaType.HTML,
    )
    async def unsubscribe_page(
        self, token: Annotated[str, Parameter(max_length=2000)]
    ) -> Response[str]:
        if await digests.unsubscribe(token):
            page = _UNSUBSCRIBED_PAGE.format(
                title="You are unsubscribed",
                text="You will get no more notification digests by email. You can turn them "
                "back on in your notification settings.",
            )
            return Response(page, media_type=MediaType.HTML)
        page = _UNSUBSCRIBED_PAGE.format(
            title="This link is not valid",
            text="This unsubscribe link is not valid. Sign in to change your notification "
            "settings.",
        )
        return Response(page, media_type=MediaType.HTML, status_code=400)

    @post(
        "/",
        exclude_from_auth=True,
        status_code=HTTP_200_OK,
        summary="Unsubscribe from the email digest (one click, no sign-in)",
        description="`{token}` from the digest email. 400 naming `token` when it is not genuine.",
    )
    async def unsubscribe(self, data: JSONBody[UnsubscribeIn]) -> UnsubscribeOut:
        if not await digests.unsubscribe(data.token):
            raise bad_request("This unsubscribe link is not valid.", "token")
        return UnsubscribeOut(email_digest=False)


HANDLERS: list[Any] = [
    CreatorsController,
    ReviewsController,
    MyCommunityController,
    UnsubscribeController,
]
