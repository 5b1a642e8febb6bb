"""Recommendation response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from hub.prompts.schemas import PromptOut


class SimilarItem(msgspec.Struct):
    prompt: PromptOut
    score: float
    # The strongest signal: shared tags, similar words, or people who ran both.
    reason: Literal["tags", "text", "co_runs"]


class SimilarPage(msgspec.Struct):
    items: list[SimilarItem]
    next_cursor: str | None = None


class Because(msgspec.Struct, omit_defaults=True):
    """Why an item is recommended: a creator you follow, or a prompt you ran."""

    type: Literal["user", "prompt"]
    id: str
    handle: str | None = None
    title: str | None = None


class ForYouItem(msgspec.Struct):
    prompt: PromptOut
    score: float
    reason: Literal["follows", "runs", "popular"]
    because: Because | None


class ForYouPage(msgspec.Struct):
    items: list[ForYouItem]
    # When the list was computed; null when it is the popular fallback (nothing yet).
    computed_at: datetime | None
    next_cursor: str | None = None
