"""The model table: which AI models prompts may use, who serves them and what they cost.

`demo` is always present (offline, deterministic). OpenAI-compatible models are added from
settings (`OPENAI_BASE_URL`, `OPENAI_API_KEY`, `HUB_OPENAI_MODELS`).
"""

from __future__ import annotations

import json
import os

import msgspec

from hub.settings import get_settings


class ModelSpec(msgspec.Struct, frozen=True):
    name: str  # what prompts store in `model`
    provider: str  # "demo" | "openai"
    upstream_model: str  # the provider's own model name
    input_cents_per_1k: float  # price of 1,000 input tokens, in cents
    output_cents_per_1k: float
    max_output_tokens: int = 2000
    default_max_tokens: int = 200


DEMO = ModelSpec(
    name="demo",
    provider="demo",
    upstream_model="demo",
    input_cents_per_1k=0.5,
    output_cents_per_1k=1.0,
)


def _openai_models() -> list[ModelSpec]:
    """`HUB_OPENAI_MODELS` is a JSON list of {name, upstream_model, input_cents_per_1k, output_cents_per_1k}."""
    settings = get_settings()
    if not settings.openai_base_url:
        return []
    raw = os.environ.get("HUB_OPENAI_MODELS")
    entries = (
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
    return [msgspec.convert({**e, "provider": "openai"}, ModelSpec) for e in entries]


def list_models() -> list[ModelSpec]:
    return [DEMO, *_openai_models()]


def get_model(name: str) -> ModelSpec | None:
    for spec in list_models():
        if spec.name == name:
            return spec
    return None
