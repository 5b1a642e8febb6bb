from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-22T02:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "follows with counters, reviews, notifications, feed items"

# creator_stats holds follower/following counts, changed in the same transaction as the
# follow row and only when a row was really inserted or deleted, so they stay exact under
# concurrent (and repeated) follows.
SQL = """
CREATE TABLE follows (
    follower_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_id, followee_id),
    CONSTRAINT follows_no_self_follow CHECK (follower_id <> followee_id)
)
;;
CREATE INDEX follows_followee_idx ON follows (followee_id, follower_id)
;;
CREATE INDEX follows_following_page_idx ON follows (follower_id, created_at DESC, followee_id DESC)
;;
CREATE TABLE creator_stats (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    follower_count integer NOT NULL DEFAULT 0 CHECK (follower_count >= 0),
    following_count integer NOT NULL DEFAULT 0 CHECK (following_count >= 0)
)
;;
CREATE TABLE reviews (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    prompt_id uuid NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body text NOT NULL DEFAULT '' CHECK (length(body) <= 5000),
    reply text CHECK (length(reply) <= 5000),
    replied_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reviews_one_per_user UNIQUE (prompt_id, user_id)
)
;;
CREATE INDEX reviews_prompt_page_idx ON reviews (prompt_id, created_at DESC, id DESC)
;;
CREATE INDEX reviews_user_idx ON reviews (user_id)
;;
CREATE TABLE notifications (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind varchar(32) NOT NULL,
    actor_id uuid REFERENCES users (id) ON DELETE CASCADE,
    prompt_id uuid REFERENCES prompts (id) ON DELETE CASCADE,
    review_id uuid REFERENCES reviews (id) ON DELETE CASCADE,
    dedupe_key varchar(200) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz,
    CONSTRAINT notifications_dedupe_key UNIQUE (user_id, dedupe_key)
)
;;
CREATE INDEX notifications_page_idx ON notifications (user_id, created_at DESC, id DESC)
;;
CREATE INDEX notifications_unread_idx ON notifications (user_id, created_at DESC, id DESC)
    WHERE read_at IS NULL
;;
CREATE TABLE feed_items (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind varchar(32) NOT NULL,
    actor_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    prompt_id uuid NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT feed_items_once UNIQUE (user_id, prompt_id, version)
)
;;
CREATE INDEX feed_items_page_idx ON feed_items (user_id, created_at DESC, id DESC)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "community", DESCRIPTION, SQL)
