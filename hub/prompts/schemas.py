"""Request and response bodies for prompts (msgspec; constraints become 400s naming the field).

`template` appears in PromptOut only for the owner, or when `private_mode` is false: the field
is then absent, not null-but-present, so clients cannot mistake "hidden" for "empty".
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from hub.media.schemas import MediaOut
from hub.prompts.templating import MAX_TEMPLATE_CHARS, MAX_VARIABLES, VARIABLE_NAME

NO_NUL = r"^[^\x00]*$"  # Postgres text cannot hold NUL; refuse it as bad input, not a 500

Title = Annotated[str, msgspec.Meta(min_length=3, max_length=120, pattern=NO_NUL)]
Description = Annotated[str, msgspec.Meta(max_length=5000, pattern=NO_NUL)]
Template = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEMPLATE_CHARS, pattern=NO_NUL)]
ModelName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=NO_NUL)]
PriceCents = Annotated[
    int, msgspec.Meta(ge=0, le=100_000, description="Price of one run in cents; 0 is free.")
]
Tag = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=30,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
        description="Letters, digits, '-' and '_'; stored in lower case.",
    ),
]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=10)]
VariableName = Annotated[str, msgspec.Meta(pattern=f"^{VARIABLE_NAME}$")]
InputValue = Annotated[str, msgspec.Meta(max_length=2000, pattern=NO_NUL)]
SampleInputs = Annotated[
    dict[VariableName, InputValue],
    msgspec.Meta(
        max_length=MAX_VARIABLES,
        description="Example inputs shown on the prompt page; keys must be template variables.",
    ),
]
SampleOutput = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000, pattern=NO_NUL)]
SampleTitle = Annotated[str, msgspec.Meta(max_length=120, pattern=NO_NUL)]
Status = Literal["active", "archived"]
LEAK_GUARD = (
    "Run the leak guard on this prompt's output (hide runs of template words) even when "
    "private_mode is false; Private Mode always has it."
)
Sort = Literal["new", "popular", "top_rated", "relevance"]


class PromptCreate(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    template: Template
    description: Description = ""
    model: ModelName = "demo"
    price_cents: PriceCents = 0
    private_mode: bool = False
    leak_guard: Annotated[bool, msgspec.Meta(description=LEAK_GUARD)] = False
    tags: Tags = msgspec.field(default_factory=list)
    sample_inputs: SampleInputs = msgspec.field(default_factory=dict)


class PromptPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields present change. A different `template` creates a new version."""

    title: Title | None = None
    description: Description | None = None
    template: Template | None = None
    model: ModelName | None = None
    price_cents: PriceCents | None = None
    private_mode: bool | None = None
    leak_guard: Annotated[bool, msgspec.Meta(description=LEAK_GUARD)] | None = None
    tags: Tags | None = None
    sample_inputs: SampleInputs | None = None
    status: Status | None = None


class OwnerOut(msgspec.Struct):
    id: str
    handle: str
    display_name: str


class PromptOut(msgspec.Struct, omit_defaults=True):
    id: str
    owner: OwnerOut
    title: str
    description: str
    variables: list[str]
    model: str
    price_cents: int
    private_mode: bool
    leak_guard: Annotated[bool, msgspec.Meta(description=LEAK_GUARD)]
    tags: list[str]
    sample_inputs: dict[str, str]
    status: Status
    version: int
    rating_avg: float
    rating_count: int
    run_count: int
    live_runs: int
    created_at: datetime
    updated_at: datetime
    template: (
        Annotated[
            str,
            msgspec.Meta(
                description="Present only for the prompt's owner, or when private_mode is false."
            ),
        ]
        | None
    ) = None
    leak_guard_redactions: (
        Annotated[
            int,
            msgspec.Meta(
                description="Spans of template text the leak guard has hidden from this "
                "prompt's runs. Present only for the prompt's owner."
            ),
        ]
        | None
    ) = None


class PromptPage(msgspec.Struct):
    items: list[PromptOut]
    next_cursor: str | None


class VersionOut(msgspec.Struct):
    id: str
    version: int
    template: str
    variables: list[str]
    created_at: datetime
    current: bool


class VersionPage(msgspec.Struct):
    items: list[VersionOut]
    next_cursor: str | None


class SampleCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Either `output` (plain text) or `run_id` of one of your own completed runs of this prompt."""

    output: SampleOutput | None = None
    run_id: str | None = None
    title: SampleTitle = ""
    inputs: SampleInputs = msgspec.field(default_factory=dict)


class SampleOut(msgspec.Struct):
    id: str
    prompt_id: str
    title: str
    inputs: dict[str, str]
    output: str
    run_id: str | None
    created_at: datetime
    # Images the creator attached (POST .../samples/{id}/media), in upload order.
    media: list[MediaOut] = msgspec.field(default_factory=list)


class SamplePage(msgspec.Struct):
    items: list[SampleOut]
    next_cursor: str | None


class SampleRunOut(msgspec.Struct):
    """One of the owner's completed runs that can become a sample (`run_id` in POST samples)."""

    run_id: str
    inputs: dict[str, str]
    excerpt: str  # the output's start, on one line (the leak guard's markers included)
    created_at: datetime
    leak_guard_redactions: int


class SampleRunPage(msgspec.Struct):
    items: list[SampleRunOut]


class FacetCount(msgspec.Struct):
    value: str
    count: int


class Facets(msgspec.Struct):
    """How the current search's matches split by tag, model and price band (`free`,
    `up_to_50` cents, `over_50`); each facet ignores its own filter."""

    tags: list[FacetCount] = msgspec.field(default_factory=list)
    models: list[FacetCount] = msgspec.field(default_factory=list)
    prices: list[FacetCount] = msgspec.field(default_factory=list)
