"""AI providers behind one small interface (`hub.providers.base.Provider`)."""

from __future__ import annotations

import httpx

from hub.providers.base import Provider
from hub.providers.demo import DemoProvider
from hub.providers.models import ModelSpec
from hub.providers.openai_compat import OpenAICompatibleProvider


def provider_for(spec: ModelSpec, http: httpx.AsyncClient) -> Provider:
    if spec.provider == "demo":
        return DemoProvider()
    if spec.provider == "openai":
        return OpenAICompatibleProvider(spec, http)
    raise LookupError(f"unknown provider kind {spec.provider!r}")
