from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-22T04:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "runs: one row per run, its money figures, output so far and terminal event"

# - (buyer_id, idempotency_key) is unique: the same key always names the same run.
# - A terminal status never changes again (trigger), and it always comes with finished_at
#   and the terminal event (CHECK). The money of the terminal state is posted in the same
#   transaction, and the ledger allows one final transaction per run (unique index).
# - `attempt` fences workers: only the worker holding the current attempt may write.
SQL = """
CREATE TABLE runs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    prompt_id uuid NOT NULL REFERENCES prompts (id),
    prompt_version_id uuid NOT NULL REFERENCES prompt_versions (id),
    prompt_version integer NOT NULL,
    buyer_id uuid NOT NULL REFERENCES users (id),
    creator_id uuid NOT NULL REFERENCES users (id),
    model varchar(64) NOT NULL,
    status varchar(16) NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'completed', 'failed', 'canceled')),
    visibility varchar(8) NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'public')),
    inputs jsonb NOT NULL DEFAULT '{}'::jsonb,
    max_tokens integer NOT NULL CHECK (max_tokens > 0),
    input_tokens integer NOT NULL CHECK (input_tokens >= 0),
    price_cents integer NOT NULL CHECK (price_cents >= 0),
    usage_cap_cents integer NOT NULL CHECK (usage_cap_cents >= 0),
    hold_cents integer NOT NULL,
    usage_input_tokens integer,
    usage_output_tokens integer,
    usage_cents integer CHECK (usage_cents >= 0),
    charge_cents integer,
    refunded_cents integer,
    output text NOT NULL DEFAULT '',
    output_tokens integer NOT NULL DEFAULT 0,
    delta_seq integer NOT NULL DEFAULT 0,
    stream_offset bigint,
    stream_epoch varchar(64),
    attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    worker_id varchar(200),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    cancel_requested_at timestamptz,
    error_code varchar(64),
    error_message text,
    terminal_event jsonb,
    terminal_published_at timestamptz,
    idempotency_key varchar(200) NOT NULL,
    request_hash char(64) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT runs_buyer_idempotency_key UNIQUE (buyer_id, idempotency_key),
    CONSTRAINT runs_hold_split CHECK (hold_cents = price_cents + usage_cap_cents),
    CONSTRAINT runs_terminal_complete CHECK (
        (status IN ('completed', 'failed', 'canceled'))
        = (finished_at IS NOT NULL AND terminal_event IS NOT NULL AND charge_cents IS NOT NULL)),
    CONSTRAINT runs_charge_split CHECK (
        charge_cents IS NULL
        OR (charge_cents >= 0 AND refunded_cents >= 0 AND charge_cents + refunded_cents = hold_cents))
)
;;
CREATE FUNCTION runs_terminal_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('completed', 'failed', 'canceled') AND (
        NEW.status IS DISTINCT FROM OLD.status
        OR NEW.charge_cents IS DISTINCT FROM OLD.charge_cents
        OR (NEW.output IS DISTINCT FROM OLD.output AND NEW.output <> '')  -- '' = erasure
        OR NEW.terminal_event IS DISTINCT FROM OLD.terminal_event) THEN
        RAISE EXCEPTION 'run % already ended %', OLD.id, OLD.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'runs_terminal_is_final';
    END IF;
    RETURN NEW;
END
$$
;;
CREATE TRIGGER runs_terminal_is_final BEFORE UPDATE ON runs
    FOR EACH ROW EXECUTE FUNCTION runs_terminal_is_final()
;;
CREATE INDEX runs_buyer_idx ON runs (buyer_id, created_at DESC, id DESC)
;;
CREATE INDEX runs_buyer_prompt_completed_idx ON runs (buyer_id, prompt_id) WHERE status = 'completed'
;;
CREATE INDEX runs_prompt_idx ON runs (prompt_id, created_at DESC)
;;
CREATE INDEX runs_live_public_idx ON runs (created_at DESC, id DESC)
    WHERE status IN ('queued', 'running') AND visibility = 'public'
;;
CREATE INDEX runs_in_flight_idx ON runs (heartbeat_at) WHERE status IN ('queued', 'running')
;;
CREATE INDEX runs_unpublished_terminal_idx ON runs (finished_at)
    WHERE terminal_event IS NOT NULL AND terminal_published_at IS NULL
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "runs", DESCRIPTION, SQL)
