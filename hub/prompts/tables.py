"""Prompts tables. The schema itself (constraints, indexes, the search trigger) lives in the migrations."""

from piccolo.columns import (
    JSONB,
    UUID,
    Array,
    BigInt,
    Boolean,
    DoublePrecision,
    ForeignKey,
    Integer,
    Numeric,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from hub.accounts.tables import User


class Prompt(Table, tablename="prompts"):
    id = UUID(primary_key=True)
    owner_id = ForeignKey(references=User, null=False)
    title = Varchar(length=120)
    description = Text(default="")
    template = Text()
    variables = Array(base_column=Text(), default=list)
    model = Varchar(length=64)
    price_cents = Integer()
    private_mode = Boolean(default=False)
    leak_guard = Boolean(default=False)
    leak_guard_redactions = BigInt(default=0)
    tags = Array(base_column=Text(), default=list)
    sample_inputs = JSONB(default="{}")
    status = Varchar(length=16, default="active")
    current_version_id = UUID(null=True, default=None)
    version = Integer(default=1)
    rating_sum = Integer(default=0)
    rating_count = Integer(default=0)
    rating_avg = Numeric(digits=(4, 3), null=True)  # generated from the rating sums
    rating_score = DoublePrecision(null=True)  # generated: the Bayesian average
    run_count = Integer(default=0)
    live_runs = Integer(default=0)
    runs_7d = Integer(default=0)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    archived_at = Timestamptz(null=True, default=None)


class PromptVersion(Table, tablename="prompt_versions"):
    id = UUID(primary_key=True)
    prompt_id = ForeignKey(references=Prompt, null=False)
    version = Integer()
    template = Text()
    variables = Array(base_column=Text(), default=list)
    created_at = Timestamptz()


class PromptSample(Table, tablename="prompt_samples"):
    id = UUID(primary_key=True)
    prompt_id = ForeignKey(references=Prompt, null=False)
    run_id = UUID(null=True, default=None)
    title = Varchar(length=120, default="")
    inputs = JSONB(default="{}")
    output = Text()
    created_at = Timestamptz()
