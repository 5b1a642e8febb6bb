"""Request and response bodies for creators, follows, reviews, feed and notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from hub.prompts.schemas import NO_NUL, PromptPage

ReviewBody = Annotated[str, msgspec.Meta(max_length=5000, pattern=NO_NUL)]
ReplyBody = Annotated[str, msgspec.Meta(min_length=1, max_length=5000, pattern=NO_NUL)]
Rating = Annotated[int, msgspec.Meta(ge=1, le=5, description="1 to 5 stars.")]
NotificationKind = Literal[
    "follower.new",
    "review.new",
    "prompt.published",
    "prompt.version",
    "sale.earned",
    "mention",
    "dm.new",
    "report.resolved",
]


class UserRef(msgspec.Struct):
    id: str
    handle: str
    display_name: str


class PromptRef(msgspec.Struct):
    id: str
    title: str
    private_mode: bool
    price_cents: int
    model: str
    tags: list[str]


class CreatorOut(msgspec.Struct):
    id: str
    handle: str
    display_name: str
    bio: str
    created_at: datetime
    follower_count: int
    following_count: int
    prompt_count: int
    following: bool  # whether the viewer follows this creator (false when anonymous)
    prompts: PromptPage  # newest first; page on with ?cursor=


class FollowState(msgspec.Struct):
    handle: str
    following: bool
    follower_count: int


class FollowingOut(msgspec.Struct):
    id: str
    handle: str
    display_name: str
    followed_at: datetime


class FollowingPage(msgspec.Struct):
    items: list[FollowingOut]
    next_cursor: str | None


class BlockIn(msgspec.Struct, forbid_unknown_fields=True):
    handle: Annotated[str, msgspec.Meta(min_length=1, max_length=30)]


class BlockState(msgspec.Struct):
    handle: str
    blocked: bool


class BlockedOut(msgspec.Struct):
    id: str
    handle: str
    display_name: str
    blocked_at: datetime


class BlockedPage(msgspec.Struct):
    items: list[BlockedOut]
    next_cursor: str | None


class ReviewIn(msgspec.Struct, forbid_unknown_fields=True):
    rating: Rating
    body: ReviewBody = ""


class ReplyIn(msgspec.Struct, forbid_unknown_fields=True):
    body: ReplyBody


class MentionOut(msgspec.Struct):
    id: str
    handle: str
    url: str


class ReviewOut(msgspec.Struct):
    id: str
    prompt_id: str
    author: UserRef
    rating: int
    body: str
    reply: str | None
    replied_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # The users the reply names as `@handle`: render those as links to `url`.
    reply_mentions: list[MentionOut] = msgspec.field(default_factory=list)


class ReviewPage(msgspec.Struct):
    items: list[ReviewOut]
    next_cursor: str | None


class Subject(msgspec.Struct):
    """What a notification is about: a prompt, a user, a run, a chat room or a report."""

    type: Literal["prompt", "user", "run", "room", "report"]
    id: str
    title: str


class NotificationOut(msgspec.Struct):
    id: str
    type: NotificationKind
    actor: UserRef | None
    subject: Subject | None
    url: str  # the web page it is about, e.g. /prompts/<id>
    text: str  # a sentence for people: "@alice published “Cold email v2”"
    prompt: PromptRef | None
    review_id: str | None
    rating: int | None
    read: bool
    created_at: datetime
    amount_cents: int | None = None  # sale.earned: what you earned
    version: int | None = None  # prompt.version: the new version
    run_id: str | None = None  # sale.earned: the run that paid
    # A burst within the group window is one item: `count` events, the latest `actors` first
    # (at most 3), `last_at` the newest; `created_at` is the first. "@bob and 4 others ..."
    count: int = 1
    actors: list[UserRef] = msgspec.field(default_factory=list)
    last_at: datetime | None = None
    room: str | None = None  # mention, dm.new: the room's slug
    message_id: str | None = None  # mention: the message (in a room) that names you
    excerpt: str | None = None  # mention: the start of that message or reply


class TypeSetting(msgspec.Struct):
    in_app: bool  # listed, counted and pushed live
    email: bool  # included in the email digest
    label: str  # what this kind is, in words for a settings page


class NotificationSettingsOut(msgspec.Struct):
    email_digest: bool  # the digest at all (the unsubscribe link turns it off)
    types: dict[str, TypeSetting]


class TypeSettingPatch(msgspec.Struct, forbid_unknown_fields=True):
    in_app: bool | None = None
    email: bool | None = None


class NotificationSettingsPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Only what is sent changes: `{"types": {"follower.new": {"email": false}}}`."""

    types: dict[NotificationKind, TypeSettingPatch] | None = None
    email_digest: bool | None = None


class NotificationPage(msgspec.Struct):
    items: list[NotificationOut]
    next_cursor: str | None
    unread_count: int


class MarkRead(msgspec.Struct, forbid_unknown_fields=True):
    """Either `ids` (at most 100 of your notifications) or `all: true`."""

    ids: Annotated[list[str], msgspec.Meta(max_length=100)] | None = None
    all: bool = False


class MarkReadResult(msgspec.Struct):
    updated: int
    unread_count: int


class FeedItemOut(msgspec.Struct):
    id: str
    type: Literal["prompt.created", "prompt.version"]
    actor: UserRef
    prompt: PromptRef
    version: int
    created_at: datetime


class FeedPage(msgspec.Struct):
    items: list[FeedItemOut]
    next_cursor: str | None


class UnsubscribeIn(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class UnsubscribeOut(msgspec.Struct):
    email_digest: bool
