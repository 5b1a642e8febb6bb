"""Moderation tables. Constraints and indexes live in the migrations."""

from piccolo.columns import JSONB, UUID, BigInt, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class ModerationCase(Table, tablename="moderation_cases"):
    id = UUID(primary_key=True)
    subject_type = Varchar(length=16)
    subject_id = UUID()
    subject_owner_id = UUID(null=True)
    status = Varchar(length=16)
    report_count = Integer(default=0)
    opened_at = Timestamptz()
    last_reported_at = Timestamptz()
    resolved_at = Timestamptz(null=True, default=None)
    resolved_by = UUID(null=True)
    resolution = Varchar(length=16, null=True)
    resolution_reason = Text(null=True)
    ban_minutes = Integer(null=True)


class Report(Table, tablename="reports"):
    id = UUID(primary_key=True)
    case_id = UUID()
    reporter_id = UUID()
    reason = Varchar(length=1000)
    created_at = Timestamptz()


class CommunitySuspension(Table, tablename="community_suspensions"):
    user_id = UUID(primary_key=True)
    until = Timestamptz()
    reason = Text(default="")
    created_by = UUID(null=True)
    created_at = Timestamptz()


class ModerationAudit(Table, tablename="moderation_audit"):
    id = BigInt(primary_key=True)
    actor_id = UUID(null=True)
    action = Varchar(length=32)
    subject_type = Varchar(length=16)
    subject_id = UUID(null=True)
    target_user_id = UUID(null=True)
    case_id = UUID(null=True)
    reason = Text(default="")
    details = JSONB(default="{}")
    created_at = Timestamptz()
