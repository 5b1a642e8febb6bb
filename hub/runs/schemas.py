"""Run bodies (msgspec). Money is integer cents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

InputValue = Annotated[str, msgspec.Meta(max_length=8000)]
MaxTokens = Annotated[int, msgspec.Meta(ge=1, le=8000)]


class RunRequest(msgspec.Struct, forbid_unknown_fields=True):
    inputs: Annotated[dict[str, InputValue], msgspec.Meta(max_length=20)] = {}
    visibility: Literal["private", "public"] = "private"
    max_tokens: MaxTokens | None = None
    # The price the buyer saw (the estimate's `price_cents`): if the prompt's price has
    # changed since, the run is refused with 409 and nothing is held.
    expected_price_cents: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None


CANCEL_RULE = (
    "Cancelling before the first output token costs nothing: the whole hold is returned. "
    "Once output has begun, a cancelled run costs the full price plus the usage so far."
)


class Estimate(msgspec.Struct):
    prompt_id: str
    model: str
    max_tokens: int
    input_tokens: int  # counted on the template; the hold counts the rendered prompt
    price_cents: int
    usage_cap_cents: int
    hold_cents: int
    balance_cents: int | None = None  # when signed in
    cancel_rule: str = CANCEL_RULE  # stated before the buyer starts
    # The caller's subscription to the creator covers this run: the price is 0 (usage only).
    covered_by_subscription: bool = False


class StreamPosition(msgspec.Struct):
    offset: int
    epoch: str


class RunUsage(msgspec.Struct):
    input_tokens: int
    output_tokens: int
    cost_cents: int | None = None  # the buyer's money: null for anyone else


class RunError(msgspec.Struct):
    code: str
    message: str


class RunOut(msgspec.Struct):
    id: str
    prompt_id: str
    prompt_version: int
    status: str
    visibility: str
    model: str
    max_tokens: int
    channel: str
    output: str
    attempt: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    price_cents: int | None  # the money fields are shown to the buyer only (null otherwise)
    usage_cap_cents: int | None = None
    hold_cents: int | None = None
    charge_cents: int | None = None
    refunded_cents: int | None = None
    usage: RunUsage | None = None
    error: RunError | None = None
    stream: StreamPosition | None = None
    prompt_title: str | None = None
    cancel_requested: bool = False


class RunPage(msgspec.Struct):
    items: list[RunOut]
    next_cursor: str | None


class CancelOut(msgspec.Struct):
    id: str
    status: str
    cancel_requested: bool


def event(type_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, **fields}


class LeakGuardRun(msgspec.Struct):
    run_id: str
    created_at: datetime
    status: str
    visibility: str
    attempt: int
    leak_guard_redactions: int


class LeakGuardRuns(msgspec.Struct):
    """A prompt's guard state and a page of its runs that had template text hidden."""

    prompt_id: str
    guarded: bool  # new runs of the prompt go through the guard (Private Mode or leak_guard)
    private_mode: bool
    leak_guard: bool
    leak_guard_redactions: int
    items: list[LeakGuardRun]
    next_cursor: str | None


class LeakGuardPrompt(msgspec.Struct):
    prompt_id: str
    title: str
    owner_handle: str
    status: str
    private_mode: bool
    leak_guard: bool
    leak_guard_redactions: int


class LeakGuardPromptPage(msgspec.Struct):
    items: list[LeakGuardPrompt]
    next_cursor: str | None
