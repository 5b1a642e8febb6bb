from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T13:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "recommendations: more like this per prompt, for you per user (precomputed)"

# Served by primary key: (prompt_id, rank) and (user_id, rank) are the only reads of a page.
# The *_state tables say when each list was computed, so the cron job refreshes stale lists in
# batches. Secondary indexes on the referenced prompt exist for ON DELETE CASCADE.
SQL = """
CREATE TABLE prompt_similar (
    prompt_id uuid NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    rank smallint NOT NULL CHECK (rank BETWEEN 1 AND 100),
    similar_id uuid NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    score real NOT NULL,
    reason varchar(16) NOT NULL CHECK (reason IN ('tags', 'text', 'co_runs')),
    PRIMARY KEY (prompt_id, rank),
    CHECK (similar_id <> prompt_id)
)
;;
CREATE INDEX prompt_similar_similar_idx ON prompt_similar (similar_id)
;;
CREATE TABLE prompt_similar_state (
    prompt_id uuid PRIMARY KEY REFERENCES prompts (id) ON DELETE CASCADE,
    computed_at timestamptz NOT NULL
)
;;
CREATE INDEX prompt_similar_state_computed_idx ON prompt_similar_state (computed_at)
;;
CREATE TABLE user_recommendations (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rank smallint NOT NULL CHECK (rank BETWEEN 1 AND 100),
    prompt_id uuid NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    score real NOT NULL,
    reason varchar(16) NOT NULL CHECK (reason IN ('follows', 'runs')),
    source_id uuid,
    PRIMARY KEY (user_id, rank)
)
;;
CREATE INDEX user_recommendations_prompt_idx ON user_recommendations (prompt_id)
;;
CREATE TABLE user_recommendation_state (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    computed_at timestamptz NOT NULL
)
;;
CREATE INDEX runs_completed_finished_idx ON runs (finished_at) WHERE status = 'completed'
;;
CREATE INDEX follows_created_idx ON follows (created_at)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "recommendations", DESCRIPTION, SQL)
