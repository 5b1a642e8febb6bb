"""One small interface for every AI provider.

`stream(request)` is an async iterator of `TokenDelta`s followed by exactly one `Usage`, or
it raises `ProviderError`. Retries, timeouts and the circuit breaker live inside the
provider, so the run worker sees only "tokens, then usage" or "a clear failure".

The request's `prompt` is the rendered template: it goes to the provider and nowhere else.
Nothing here logs it, puts it in an exception, or repr()s it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from hub.providers.models import ModelSpec


@dataclass(frozen=True)
class CompletionRequest:
    prompt: str = field(repr=False)
    max_tokens: int
    model: ModelSpec = field(repr=False)
    run_id: str = ""


@dataclass(frozen=True)
class TokenDelta:
    text: str
    tokens: int = 1


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


class ProviderError(Exception):
    """A provider could not serve. `message` is safe to show the buyer: it never quotes the
    prompt or the provider's response body."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool = False,
        status: int = 0,
        retry_after: float | None = None,
    ):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after  # seconds the provider asked us to wait, if it said


class Provider(Protocol):
    name: str

    def stream(self, request: CompletionRequest) -> AsyncIterator[TokenDelta | Usage]: ...
