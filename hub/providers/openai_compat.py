"""OpenAI-compatible chat completions, streamed (`/v1/chat/completions`, `stream: true`).

- Usage comes from the final chunk (`stream_options.include_usage`); a provider that sends
  none is metered by our own token count.
- Connect errors, timeouts, 429 and 5xx before the first token are retried with exponential
  backoff and full jitter (honouring Retry-After). After the first token a failure is final:
  the buyer has seen output that a retry would not reproduce.
- A circuit breaker per endpoint stops hammering a provider that keeps failing.
- Errors never carry the provider's response body or our request: either may quote the
  prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import structlog
from httpx_sse import SSEError, aconnect_sse

from hub.platform.settings import get_settings
from hub.providers.base import CompletionRequest, ProviderError, TokenDelta, Usage
from hub.providers.breaker import CircuitBreaker, breaker_for
from hub.providers.models import ModelSpec, count_tokens

log = structlog.get_logger(__name__)

_UNAVAILABLE = "The AI provider is not responding right now. You were not charged; try again later."


# Failures that say the provider is unwell (they count towards opening the circuit); 429 and
# 4xx say it is alive.
_PROVIDER_FAULTS = frozenset(
    {
        "provider_error",
        "provider_connection",
        "provider_timeout",
        "provider_stream_cut",
        "provider_bad_response",
    }
)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class OpenAICompatibleProvider:
    name = "openai"

    def __init__(self, spec: ModelSpec, client: httpx.AsyncClient) -> None:
        settings = get_settings()
        self.spec = spec
        self.client = client
        self.base_url = (spec.base_url or settings.openai_base_url).rstrip("/")
        self.api_key = spec.api_key or settings.openai_api_key
        self.max_retries = (
            spec.max_retries if spec.max_retries is not None else settings.provider_max_retries
        )
        self.retry_base = spec.retry_base_seconds or settings.provider_retry_base_seconds
        self.retry_max = settings.provider_retry_max_seconds
        self.first_token_timeout = (
            spec.first_token_timeout_seconds or settings.provider_first_token_timeout_seconds
        )
        self.timeout = httpx.Timeout(
            connect=settings.provider_connect_timeout_seconds,
            read=spec.read_timeout_seconds or settings.provider_read_timeout_seconds,
            write=10.0,
            pool=10.0,
        )
        self.breaker: CircuitBreaker = breaker_for(
            self.base_url,
            spec.breaker_failures or settings.provider_breaker_failures,
            spec.breaker_cooldown_seconds or settings.provider_breaker_cooldown_seconds,
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(self.retry_max, self.retry_base * (2**attempt))
        delay = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_max))
        return delay

    def _body(self, request: CompletionRequest) -> dict[str, Any]:
        return {
            "model": self.spec.upstream_model,
            "messages": [{"role": "user", "content": request.prompt}],
            "max_tokens": request.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    async def stream(self, request: CompletionRequest) -> AsyncIterator[TokenDelta | Usage]:
        if not self.base_url:
            raise ProviderError("provider_not_configured", "This model's provider is not set up.")
        attempt = 0
        while True:
            if not self.breaker.allow():
                log.warning("provider.circuit_open", run_id=request.run_id, provider=self.base_url)
                raise ProviderError("provider_unavailable", _UNAVAILABLE)
            started = False
            retry_after: float | None = None
            try:
                async for item in self._attempt(request):
                    started = True
                    yield item
                self.breaker.record_success()
                return
            except ProviderError as exc:
                if exc.code in _PROVIDER_FAULTS:
                    self.breaker.record_failure()
                else:
                    self.breaker.record_success()  # it answered: alive, just busy or picky
                if started or not exc.retryable or attempt >= self.max_retries:
                    log.warning(
                        "provider.failed",
                        run_id=request.run_id,
                        code=exc.code,
                        status=exc.status,
                        attempt=attempt,
                        after_first_token=started,
                    )
                    if exc.retryable and not started:
                        raise ProviderError(
                            "provider_unavailable", _UNAVAILABLE, status=exc.status
                        ) from None
                    raise
                retry_after = exc.retry_after
            delay = self._backoff(attempt, retry_after)
            log.info(
                "provider.retry", run_id=request.run_id, attempt=attempt + 1, delay=round(delay, 3)
            )
            await asyncio.sleep(delay)
            attempt += 1

    async def _attempt(self, request: CompletionRequest) -> AsyncIterator[TokenDelta | Usage]:
        """One HTTP request; raises ProviderError (retryable or not), never httpx errors."""
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        output_tokens = 0
        usage: Usage | None = None
        finished = False
        try:
            async with contextlib.AsyncExitStack() as stack:
                try:
                    async with asyncio.timeout(self.first_token_timeout):
                        source = await stack.enter_async_context(
                            aconnect_sse(
                                self.client,
                                "POST",
                                f"{self.base_url}/chat/completions",
                                json=self._body(request),
                                headers=headers,
                                timeout=self.timeout,
                            )
                        )
                        self._check_response(source.response)
                        events = source.aiter_sse()
                        first = await self._next_content(events)
                except TimeoutError:
                    raise ProviderError(
                        "provider_timeout",
                        "The AI provider took too long to start answering.",
                        retryable=True,
                    ) from None
                chunk: Any = first
                while True:
                    if chunk == "[DONE]":
                        finished = True
                        break
                    if chunk is not None:
                        text, chunk_usage, done = _read_chunk(chunk)
                        if chunk_usage is not None:
                            usage = chunk_usage
                        finished = finished or done
                        if text:
                            output_tokens += 1
                            yield TokenDelta(text)
                    sse = await anext(events, None)
                    if sse is None:
                        break
                    chunk = "[DONE]" if sse.data.strip() == "[DONE]" else _parse(sse.data)
        except ProviderError:
            raise
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise ProviderError(
                "provider_connection",
                f"The connection to the AI provider failed ({type(exc).__name__}).",
                retryable=output_tokens == 0,
            ) from None
        except (SSEError, httpx.HTTPError) as exc:
            raise ProviderError(
                "provider_bad_response",
                f"The AI provider sent a response we could not read ({type(exc).__name__}).",
            ) from None
        if not finished:
            raise ProviderError(
                "provider_stream_cut", "The AI provider's stream ended before the answer did."
            )
        yield usage or Usage(count_tokens(request.prompt), output_tokens)

    @staticmethod
    def _check_response(response: httpx.Response) -> None:
        status = response.status_code
        if status == 200:
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                raise ProviderError(
                    "provider_bad_response", "The AI provider did not answer with a stream."
                )
            return
        if status == 429 or status >= 500:
            exc = ProviderError(
                "provider_busy" if status == 429 else "provider_error",
                f"The AI provider answered {status}.",
                retryable=True,
                status=status,
                retry_after=_retry_after(response),
            )
            raise exc
        if status in (401, 403):
            raise ProviderError(
                "provider_auth", "The AI provider refused our credentials.", status=status
            )
        raise ProviderError(
            "provider_rejected", f"The AI provider rejected the request ({status}).", status=status
        )

    async def _next_content(self, events: AsyncIterator[Any]) -> Any:
        """Skip keep-alives and role-only chunks; return the first chunk that carries text
        (or usage, or [DONE])."""
        while True:
            sse = await anext(events, None)
            if sse is None:
                raise ProviderError(
                    "provider_stream_cut",
                    "The AI provider closed the stream before answering.",
                    retryable=True,
                )
            if sse.data.strip() == "[DONE]":
                return "[DONE]"
            chunk = _parse(sse.data)
            if chunk is None:
                continue
            text, usage, done = _read_chunk(chunk)
            if text or usage is not None or done:
                return chunk


def _parse(data: str) -> dict[str, Any] | None:
    if not data.strip():
        return None
    try:
        chunk = json.loads(data)
    except ValueError:
        raise ProviderError(
            "provider_bad_response", "The AI provider sent a malformed event."
        ) from None
    if not isinstance(chunk, dict):
        raise ProviderError("provider_bad_response", "The AI provider sent a malformed event.")
    if "error" in chunk:
        raise ProviderError(
            "provider_error", "The AI provider reported an error mid-stream.", retryable=True
        )
    return chunk


def _read_chunk(chunk: dict[str, Any]) -> tuple[str, Usage | None, bool]:
    text = ""
    done = False
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if isinstance(content, str):
            text += content
        if choice.get("finish_reason"):
            done = True
    usage = None
    raw = chunk.get("usage")
    if isinstance(raw, dict):
        try:
            usage = Usage(
                int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0)
            )
        except (TypeError, ValueError):
            usage = None
    return text, usage, done
