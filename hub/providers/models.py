"""The model table: which AI models prompts may use, who serves them and what they cost.

`demo` is always present (offline, deterministic). OpenAI-compatible models come from
settings (`OPENAI_BASE_URL`, `OPENAI_API_KEY`, `HUB_OPENAI_MODELS`) or are registered at
run time with `register_model` (tests, admin tooling).

Prices are rates, not money: fractions of a cent per 1,000 tokens. They are turned into
integer cents by `usage_cents`, with exact decimal arithmetic, rounding up.
"""

from __future__ import annotations

import json
import math
import os
import re
from decimal import Decimal
from typing import Any

import msgspec

from hub.platform.settings import get_settings


class ModelSpec(msgspec.Struct, frozen=True):
    name: str  # what prompts store in `model`
    provider: str  # "demo" | "openai"
    upstream_model: str  # the provider's own model name
    input_cents_per_1k: float  # price of 1,000 input tokens, in cents
    output_cents_per_1k: float
    max_output_tokens: int = 2000
    default_max_tokens: int = 200
    # OpenAI-compatible endpoint; empty means the settings' OPENAI_BASE_URL / OPENAI_API_KEY.
    base_url: str = ""
    api_key: str = ""  # a secret: never log a ModelSpec whole, use `public()`
    # Per-model overrides of the provider settings (None: the HUB_PROVIDER_* default).
    max_retries: int | None = None
    retry_base_seconds: float | None = None
    first_token_timeout_seconds: float | None = None
    read_timeout_seconds: float | None = None
    breaker_failures: int | None = None
    breaker_cooldown_seconds: float | None = None

    def public(self) -> dict[str, object]:
        return {
            "name": self.name,
            "provider": self.provider,
            "input_cents_per_1k": self.input_cents_per_1k,
            "output_cents_per_1k": self.output_cents_per_1k,
            "max_output_tokens": self.max_output_tokens,
            "default_max_tokens": self.default_max_tokens,
        }


DEMO = ModelSpec(
    name="demo",
    provider="demo",
    upstream_model="demo",
    input_cents_per_1k=0.5,
    output_cents_per_1k=1.0,
)

_registered: dict[str, ModelSpec] = {}


def _openai_models() -> list[ModelSpec]:
    """`HUB_OPENAI_MODELS` is a JSON list of {name, upstream_model, input_cents_per_1k,
    output_cents_per_1k, base_url?, api_key_env?}."""
    settings = get_settings()
    raw = os.environ.get("HUB_OPENAI_MODELS")
    if not settings.openai_base_url and not raw:
        return []
    entries: list[dict[str, Any]] = (
        json.loads(raw)
        if raw
        else [
            {
                "name": "gpt-4o-mini",
                "upstream_model": "gpt-4o-mini",
                "input_cents_per_1k": 0.015,
                "output_cents_per_1k": 0.06,
            }
        ]
    )
    specs = []
    for entry in entries:
        entry = dict(entry)
        key_env = entry.pop("api_key_env", None)
        if key_env:
            entry["api_key"] = os.environ.get(key_env, "")
        specs.append(msgspec.convert({**entry, "provider": "openai"}, ModelSpec))
    return specs


def register_model(spec: ModelSpec) -> None:
    """Add or replace a model at run time (this process only)."""
    _registered[spec.name] = spec


def unregister_model(name: str) -> None:
    _registered.pop(name, None)


def list_models() -> list[ModelSpec]:
    models = {m.name: m for m in [DEMO, *_openai_models()]}
    models.update(_registered)
    return list(models.values())


def get_model(name: str) -> ModelSpec | None:
    if name in _registered:
        return _registered[name]
    for spec in list_models():
        if spec.name == name:
            return spec
    return None


_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def count_tokens(text: str) -> int:
    """A provider-independent token count (words and punctuation): what the hold is sized on."""
    return len(_TOKEN.findall(text))


def usage_cents(spec: ModelSpec, input_tokens: int, output_tokens: int) -> int:
    """What this much usage costs, in whole cents, rounded up (0 only for no usage at all)."""
    cost = (
        Decimal(str(spec.input_cents_per_1k)) * input_tokens
        + Decimal(str(spec.output_cents_per_1k)) * output_tokens
    ) / 1000
    return math.ceil(cost)
