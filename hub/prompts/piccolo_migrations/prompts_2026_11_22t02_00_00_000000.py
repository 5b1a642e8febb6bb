from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-22T02:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "prompts, prompt versions and samples, with full-text search"

# Sort keys of the listing (`new`, `popular`, `top_rated`) each have a partial index on
# (key DESC, id DESC) over active prompts, so a page is an index range scan (keyset pagination).
# `rating_score` is a Bayesian average with a fixed prior (mean 3.5 worth 10 reviews), so one
# 5-star review does not top the chart. `runs_7d` is refreshed from `runs` by a cron job.
SQL = """
CREATE TABLE prompts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id uuid NOT NULL REFERENCES users (id),
    title varchar(120) NOT NULL CHECK (length(btrim(title)) >= 3),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    template text NOT NULL CHECK (length(template) BETWEEN 1 AND 20000),
    variables text[] NOT NULL DEFAULT '{}',
    model varchar(64) NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents >= 0 AND price_cents <= 100000),
    private_mode boolean NOT NULL DEFAULT false,
    tags text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 10),
    sample_inputs jsonb NOT NULL DEFAULT '{}'::jsonb,
    status varchar(16) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    current_version_id uuid,
    version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    rating_sum integer NOT NULL DEFAULT 0 CHECK (rating_sum >= 0),
    rating_count integer NOT NULL DEFAULT 0 CHECK (rating_count >= 0),
    rating_avg numeric(4, 3) GENERATED ALWAYS AS (
        CASE WHEN rating_count = 0 THEN 0 ELSE round(rating_sum::numeric / rating_count, 3) END
    ) STORED,
    rating_score double precision GENERATED ALWAYS AS (
        (10 * 3.5 + rating_sum) / (10 + rating_count)::double precision
    ) STORED,
    run_count integer NOT NULL DEFAULT 0 CHECK (run_count >= 0),
    live_runs integer NOT NULL DEFAULT 0 CHECK (live_runs >= 0),
    runs_7d integer NOT NULL DEFAULT 0 CHECK (runs_7d >= 0),
    search tsvector NOT NULL DEFAULT ''::tsvector,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    archived_at timestamptz
)
;;
CREATE FUNCTION prompts_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search :=
        setweight(to_tsvector('english', coalesce(NEW.title, '')), 'A')
        || setweight(to_tsvector('english', array_to_string(NEW.tags, ' ')), 'B')
        || setweight(to_tsvector('english', coalesce(NEW.description, '')), 'C');
    RETURN NEW;
END
$$
;;
CREATE TRIGGER prompts_search_vector_trg
    BEFORE INSERT OR UPDATE OF title, description, tags ON prompts
    FOR EACH ROW EXECUTE FUNCTION prompts_search_vector()
;;
CREATE INDEX prompts_search_idx ON prompts USING gin (search)
;;
CREATE INDEX prompts_tags_idx ON prompts USING gin (tags)
;;
CREATE INDEX prompts_new_idx ON prompts (created_at DESC, id DESC) WHERE status = 'active'
;;
CREATE INDEX prompts_popular_idx ON prompts (runs_7d DESC, id DESC) WHERE status = 'active'
;;
CREATE INDEX prompts_top_rated_idx ON prompts (rating_score DESC, id DESC) WHERE status = 'active'
;;
CREATE INDEX prompts_owner_idx ON prompts (owner_id, created_at DESC, id DESC)
;;
CREATE INDEX prompts_model_idx ON prompts (model, created_at DESC, id DESC) WHERE status = 'active'
;;
CREATE INDEX prompts_price_idx ON prompts (price_cents, created_at DESC, id DESC) WHERE status = 'active'
;;
CREATE TABLE prompt_versions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    prompt_id uuid NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    version integer NOT NULL CHECK (version >= 1),
    template text NOT NULL CHECK (length(template) BETWEEN 1 AND 20000),
    variables text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT prompt_versions_prompt_version_key UNIQUE (prompt_id, version)
)
;;
ALTER TABLE prompts ADD CONSTRAINT prompts_current_version_fk
    FOREIGN KEY (current_version_id) REFERENCES prompt_versions (id) DEFERRABLE INITIALLY DEFERRED
;;
CREATE TABLE prompt_samples (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    prompt_id uuid NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    run_id uuid,
    title varchar(120) NOT NULL DEFAULT '',
    inputs jsonb NOT NULL DEFAULT '{}'::jsonb,
    output text NOT NULL CHECK (length(output) BETWEEN 1 AND 20000),
    created_at timestamptz NOT NULL DEFAULT now()
)
;;
CREATE INDEX prompt_samples_prompt_idx ON prompt_samples (prompt_id, created_at DESC, id DESC)
;;
CREATE UNIQUE INDEX prompt_samples_run_key ON prompt_samples (prompt_id, run_id) WHERE run_id IS NOT NULL
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "prompts", DESCRIPTION, SQL)
