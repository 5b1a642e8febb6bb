"""Runs table. The schema itself (constraints, triggers, indexes) lives in the migrations."""

from piccolo.columns import (
    JSONB,
    UUID,
    BigInt,
    Char,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class Run(Table, tablename="runs"):
    id = UUID(primary_key=True)
    prompt_id = UUID()
    prompt_version_id = UUID()
    prompt_version = Integer()
    buyer_id = UUID()
    creator_id = UUID()
    model = Varchar(length=64)
    status = Varchar(length=16, default="queued")
    visibility = Varchar(length=8, default="private")
    inputs = JSONB()
    max_tokens = Integer()
    input_tokens = Integer()
    price_cents = Integer()
    usage_cap_cents = Integer()
    hold_cents = Integer()
    usage_input_tokens = Integer(null=True)
    usage_output_tokens = Integer(null=True)
    usage_cents = Integer(null=True)
    charge_cents = Integer(null=True)
    refunded_cents = Integer(null=True)
    output = Text(default="")
    output_tokens = Integer(default=0)
    delta_seq = Integer(default=0)
    leak_guard_redactions = Integer(default=0)
    subscription_id = UUID(null=True)
    stream_offset = BigInt(null=True)
    stream_epoch = Varchar(length=64, null=True)
    attempt = Integer(default=1)
    worker_id = Varchar(length=200, null=True)
    heartbeat_at = Timestamptz()
    cancel_requested_at = Timestamptz(null=True)
    error_code = Varchar(length=64, null=True)
    error_message = Text(null=True)
    terminal_event = JSONB(null=True)
    terminal_published_at = Timestamptz(null=True)
    idempotency_key = Varchar(length=200)
    request_hash = Char(length=64)
    created_at = Timestamptz()
    started_at = Timestamptz(null=True)
    finished_at = Timestamptz(null=True)
    updated_at = Timestamptz()
