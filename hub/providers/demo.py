"""The demo provider: offline and deterministic, paced like a real model.

The text is drawn from a small vocabulary by a generator seeded with a keyed hash (HMAC) of
the run id and the rendered prompt, under a key derived from the server's secret
(`HUB_JWT_SECRET`). It never quotes the prompt, and it cannot be used to check a guessed
Private Mode template: without the server's key nobody can recompute it offline, and since
every run has its own id, running the guessed text as one's own prompt gives a different
text. The same run (a restarted attempt) gets the same text. It produces exactly
`max_tokens` tokens at `demo_tokens_per_second`, and counts them honestly.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import time
from collections.abc import AsyncIterator

from hub.platform.settings import get_settings
from hub.providers.base import CompletionRequest, TokenDelta, Usage
from hub.providers.models import count_tokens

_WORDS = (
    "the a an of to and in on for with from into over under across light river stone wind "
    "quiet bright slow gentle distant golden silver morning evening night autumn spring "
    "summer winter mountain ocean city garden window road story dream memory signal "
    "pattern idea answer question moment season shadow echo thread spark harbor meadow "
    "lantern compass horizon rhythm canvas orbit ember willow cedar falls rises turns "
    "carries holds listens waits remembers opens gathers drifts shines returns becomes"
).split()


def _seed(prompt: str, run_id: str) -> bytes:
    key = hmac.new(
        get_settings().jwt_secret.encode(), b"betterprompt-hub demo model", hashlib.sha256
    ).digest()
    return hmac.new(key, f"{run_id}\0{prompt}".encode(), hashlib.sha256).digest()


def demo_tokens(prompt: str, n: int, run_id: str = "") -> list[str]:
    """The `n` tokens the demo model answers `prompt` with in run `run_id` (each one word or
    punctuation)."""
    rng = random.Random(_seed(prompt, run_id))
    tokens: list[str] = []
    sentence = 0
    for i in range(n):
        if sentence >= 6 and rng.random() < 0.25 and tokens and tokens[-1] != ".":
            tokens.append(".")
            sentence = 0
            continue
        word = rng.choice(_WORDS)
        if i == 0 or tokens[-1] == ".":
            word = word.capitalize()
        tokens.append(word if i == 0 else " " + word)
        sentence += 1
    return tokens


def demo_output(prompt: str, n: int, run_id: str = "") -> str:
    return "".join(demo_tokens(prompt, n, run_id))


class DemoProvider:
    name = "demo"

    def __init__(self, tokens_per_second: float | None = None) -> None:
        self.rate = tokens_per_second or get_settings().demo_tokens_per_second

    async def stream(self, request: CompletionRequest) -> AsyncIterator[TokenDelta | Usage]:
        tokens = demo_tokens(request.prompt, request.max_tokens, request.run_id)
        start = time.monotonic()
        for i, token in enumerate(tokens):
            delay = start + (i + 1) / self.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            yield TokenDelta(token)
        yield Usage(input_tokens=count_tokens(request.prompt), output_tokens=len(tokens))
