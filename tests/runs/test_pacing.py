"""How a run's tokens become `run.delta`s: text after a quiet moment goes out at once, a fast
model is paced to about one delta per coalescing window (50 ms) with every token in one of
them, in order. Driven on a simulated clock through the executor's own stream."""

from __future__ import annotations

import uuid

import pytest

from hub.providers.base import TokenDelta
from hub.runs import executor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(executor, "time", clock)
    return clock


def stream() -> executor._Stream:
    run_id = uuid.uuid4()
    first = {"type": "run.started", "run_id": str(run_id), "attempt": 1}
    s = executor._Stream({"id": run_id, "attempt": 1}, "test", first)
    s.take()
    s.landed([None])  # run.started is out
    return s


def publish_if_due(s: executor._Stream, clock: Clock) -> str | None:
    at = s.next_at()
    if at is None or at > clock.now:
        return None
    [data] = s.take()
    s.landed([None])
    return str(data["text"])


def test_text_after_a_pause_goes_out_at_once_and_fast_tokens_are_paced(clock):
    s = stream()
    sent: list[tuple[int, str]] = []  # (ms, text)
    tokens = []

    def flush() -> None:  # the flusher, running whenever something is due
        text = publish_if_due(s, clock)
        if text is not None:
            sent.append((round((clock.now - 1000.0) * 1000), text))

    # A burst: one token every 5 ms for 200 ms, then silence, then one more token; the
    # flusher also looks every millisecond in between.
    token_at = {i * 5: f" w{i}" for i in range(40)} | {500: " w40"}
    for ms in range(1501):
        clock.now = 1000.0 + ms / 1000
        if ms in token_at:
            tokens.append(token_at[ms])
            s.add(TokenDelta(token_at[ms]))
        flush()

    assert "".join(text for _, text in sent) == "".join(tokens)  # every token, in order
    assert sent[0] == (0, " w0")  # the first token of a quiet stream: at once
    assert sent[-1] == (500, " w40")  # and again after a pause
    burst = [ms for ms, _ in sent if ms < 300]
    # 40 tokens in 200 ms: two deltas at once (the allowance), then one per 50 ms.
    assert burst[:2] == [0, 5]
    assert 5 <= len(burst) <= 7
    assert all(b - a >= 50 for a, b in zip(burst[2:], burst[3:], strict=False)), burst
    assert max(ms for ms, _ in sent if ms < 300) <= 250  # nothing waits past its window


def test_a_full_buffer_goes_out_without_waiting_for_the_window(clock):
    s = stream()
    cap = executor.get_settings().run_coalesce_tokens
    s.add(TokenDelta("x"))
    assert publish_if_due(s, clock) == "x"  # the allowance: two deltas at once
    s.add(TokenDelta("y"))
    assert publish_if_due(s, clock) == "y"
    for _ in range(cap - 1):
        s.add(TokenDelta("a"))
        assert publish_if_due(s, clock) is None  # paced: waits for the window
    s.add(TokenDelta("b"))
    assert publish_if_due(s, clock) == "a" * (cap - 1) + "b"  # full: at once
