from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "reports, the moderation queue (one open case per item), suspensions, audit log"

# A case is one queue entry per reported item: repeated reports of the item while its case is
# open join that case (the partial unique index), each reporter once. Subjects are polymorphic
# (message, prompt, review, user), so `subject_id` has no foreign key; `subject_owner_id` is
# whom a ban would hit. The audit log is append-only and keeps rows when actors are erased.
SQL = """
CREATE TABLE moderation_cases (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subject_type varchar(16) NOT NULL
        CHECK (subject_type IN ('message', 'prompt', 'review', 'user')),
    subject_id uuid NOT NULL,
    subject_owner_id uuid REFERENCES users (id) ON DELETE SET NULL,
    status varchar(16) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    report_count integer NOT NULL DEFAULT 0 CHECK (report_count >= 0),
    opened_at timestamptz NOT NULL DEFAULT now(),
    last_reported_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    resolved_by uuid REFERENCES users (id) ON DELETE SET NULL,
    resolution varchar(16) CHECK (resolution IN ('delete', 'ban', 'dismiss')),
    resolution_reason text,
    ban_minutes integer CHECK (ban_minutes > 0),
    CHECK ((status = 'open') = (resolution IS NULL))
)
;;
CREATE UNIQUE INDEX moderation_cases_open_subject_key
    ON moderation_cases (subject_type, subject_id) WHERE status = 'open'
;;
CREATE INDEX moderation_cases_queue_idx ON moderation_cases (status, opened_at, id)
;;
CREATE TABLE reports (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    case_id uuid NOT NULL REFERENCES moderation_cases (id) ON DELETE CASCADE,
    reporter_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason varchar(1000) NOT NULL CHECK (length(btrim(reason)) > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, reporter_id)
)
;;
CREATE INDEX reports_reporter_idx ON reports (reporter_id, created_at)
;;
CREATE TABLE community_suspensions (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    until timestamptz NOT NULL,
    reason text NOT NULL DEFAULT '',
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
;;
CREATE TABLE moderation_audit (
    id bigserial PRIMARY KEY,
    actor_id uuid REFERENCES users (id) ON DELETE SET NULL,
    action varchar(32) NOT NULL,
    subject_type varchar(16) NOT NULL,
    subject_id uuid,
    target_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    case_id uuid REFERENCES moderation_cases (id) ON DELETE SET NULL,
    reason text NOT NULL DEFAULT '',
    details jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
)
;;
CREATE INDEX moderation_audit_created_idx ON moderation_audit (created_at DESC, id DESC)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "moderation", DESCRIPTION, SQL)
