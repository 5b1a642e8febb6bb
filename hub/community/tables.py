"""Community tables. The schema itself (constraints, indexes) lives in the migrations."""

from piccolo.columns import (
    JSONB,
    UUID,
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from hub.accounts.tables import User
from hub.prompts.tables import Prompt


class Follow(Table, tablename="follows"):
    follower_id = ForeignKey(references=User, null=False)
    followee_id = ForeignKey(references=User, null=False)
    created_at = Timestamptz()


class CreatorStats(Table, tablename="creator_stats"):
    user_id = ForeignKey(references=User, primary_key=True)
    follower_count = Integer(default=0)
    following_count = Integer(default=0)


class Review(Table, tablename="reviews"):
    id = UUID(primary_key=True)
    prompt_id = ForeignKey(references=Prompt, null=False)
    user_id = ForeignKey(references=User, null=False)
    rating = SmallInt()
    body = Text(default="")
    reply = Text(null=True, default=None)
    replied_at = Timestamptz(null=True, default=None)
    reply_mentions = JSONB(default="[]")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Notification(Table, tablename="notifications"):
    id = UUID(primary_key=True)
    user_id = ForeignKey(references=User, null=False)
    kind = Varchar(length=32)
    actor_id = ForeignKey(references=User, null=True)
    prompt_id = ForeignKey(references=Prompt, null=True)
    review_id = ForeignKey(references=Review, null=True)
    dedupe_key = Varchar(length=200)
    data = JSONB(default="{}")
    created_at = Timestamptz()
    read_at = Timestamptz(null=True, default=None)
    group_key = Varchar(length=200, null=True)
    group_id = UUID(null=True)
    group_size = Integer(default=1)
    last_at = Timestamptz()
    in_app = Boolean(default=True)


class NotificationSettings(Table, tablename="notification_settings"):
    user_id = ForeignKey(references=User, primary_key=True)
    types = JSONB(default="{}")
    email_digest = Boolean(default=True)
    updated_at = Timestamptz()


class Block(Table, tablename="blocks"):
    blocker_id = ForeignKey(references=User, null=False)
    blocked_id = ForeignKey(references=User, null=False)
    created_at = Timestamptz()


class FeedItem(Table, tablename="feed_items"):
    id = BigInt(primary_key=True)
    user_id = ForeignKey(references=User, null=False)
    kind = Varchar(length=32)
    actor_id = ForeignKey(references=User, null=False)
    prompt_id = ForeignKey(references=Prompt, null=False)
    version = Integer()
    created_at = Timestamptz()


class NotificationDigest(Table, tablename="notification_digests"):
    user_id = ForeignKey(references=User, null=False)
    period_start = Timestamptz()
    sent_at = Timestamptz()
    notification_count = Integer()
    mail_id = UUID(null=True)
