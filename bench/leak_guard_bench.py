"""Leak guard benchmark: CPU per delta with a 20,000-character template, and the latency the
guard adds to streaming.

    .venv/bin/python bench/leak_guard_bench.py              # the tables for docs/performance.md
    .venv/bin/python bench/leak_guard_bench.py --rate 20    # latency at another token rate

Pure and in-process (no servers): it builds a 20,000-character template (3,000+ words of
ordinary English from a 400-word vocabulary, five placeholders) and streams four outputs
through `hub.runs.leak_guard`, cut into tokens the way an OpenAI-style tokenizer cuts English
(a leading space plus up to 5 letters; punctuation apart):
- `unrelated`: the demo model's prose (its own small vocabulary; it shares only function
  words such as "the", "of", "into" with the template);
- `ordinary`: unrelated text from the *same* vocabulary (it shares most single words and many
  word pairs with the template, so the guard keeps checking and holding: the hard case for
  an honest answer);
- `echo`: the rendered prompt, verbatim (every word is hidden: the most matching work);
- `garbled`: the echo with changed case, spacing and punctuation;
- `one chunk`: the whole echo as a single 20,000-character delta.

1. CPU: the time of each `feed()` call (perf_counter_ns), p50/p99/max per delta, against a
   baseline of the executor's own per-token work without a guard (a list append).
2. Latency: each run is replayed on a simulated clock at `--rate` tokens/s through the
   executor's pacing rule (text for a quiet stream goes out at once; after that about one
   delta per 50 ms window, a bucket of two; at once at 32 tokens), once with and once
   without the guard; for every
   token, the time from the provider sending it to the delta that carries it (or its marker)
   being published. The difference is what the guard adds. It also reports the hold itself
   in tokens.
Nothing is asserted: it prints the figures, and exits 1 if the p99 per delta of any stream
is 1 ms or more.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub.providers.demo import demo_output  # noqa: E402
from hub.runs.leak_guard import LeakGuard, guard_for, template_index  # noqa: E402
from tests.providers.leaks import garble, leaked_runs  # noqa: E402

COALESCE_S = 0.050
COALESCE_TOKENS = 32
BURST = 2.0  # hub.runs.executor.BURST
TEMPLATE_CHARS = 20_000

_VOCAB = """
the a an of to and in on for with from into over under about after before between through
during without within against among across behind beyond toward upon you your yours we our
they their them it its this that these those which who whom whose what when where why how
all any both each few more most other some such no nor not only own same so than too very
can will just should now write rewrite explain describe list summarise compare contrast
draft outline answer respond reply keep make use avoid include mention open close begin end
start finish ask tell show give take bring find follow check verify confirm ensure never
always often sometimes usually rarely first second third last next final short long brief
clear concise specific concrete detailed simple plain formal casual friendly warm polite
confident honest direct careful precise accurate relevant useful practical creative original
letter email message note post article essay story poem summary report review plan proposal
pitch outline headline title paragraph sentence word phrase line section list table bullet
point example detail fact number figure date name company product service customer client
reader audience user buyer seller team manager engineer designer writer editor student
teacher doctor lawyer founder investor partner colleague friend family role job position
skill experience achievement result goal reason problem solution idea question topic theme
tone voice style format structure length limit rule step stage part piece version draft
market price cost value quality feature benefit risk issue change growth launch release
project process system data model tool method approach strategy policy plan budget schedule
time day week month year morning evening today tomorrow yesterday future past present recent
new old good bad great small large big little high low early late fast slow easy hard best
better worse important interesting exciting surprising common rare unique special general
british english american spanish french german words characters sentences paragraphs pages
under above below around near far here there then once twice again also still even already
yet perhaps maybe certainly clearly simply really quite rather almost nearly exactly only
instruction instructions guideline guidelines requirement requirements constraint context
assistant ghostwriter copywriter editor translator analyst researcher consultant coach
meticulous thoughtful helpful careful expert senior junior professional experienced skilled
reveal hide share repeat quote copy print output input prompt system secret private public
""".split()


def sentences(rng: random.Random, n_chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < n_chars:
        words = [rng.choice(_VOCAB) for _ in range(rng.randint(6, 22))]
        if rng.random() < 0.3:
            words.insert(rng.randrange(1, len(words)), rng.choice(_VOCAB) + ",")
        sentence = " ".join(words).capitalize() + rng.choice([".", ".", ".", ":", "?", ";"])
        out.append(sentence)
        size += len(sentence) + 1
    return " ".join(out)


def make_template(rng: random.Random) -> tuple[str, dict[str, str]]:
    body = sentences(rng, TEMPLATE_CHARS - 200)
    names = ["role", "company", "audience", "tone", "length"]
    parts = body.split(" ")
    for name in names:
        parts.insert(rng.randrange(len(parts)), "{{" + name + "}}")
    template = " ".join(parts)[:TEMPLATE_CHARS]
    template = template[: template.rindex(" ")]  # no half word or half placeholder at the end
    values = {
        "role": "Staff Data Engineer",
        "company": "Northwind Traders",
        "audience": "hiring managers in logistics",
        "tone": "warm but precise",
        "length": "about 180 words",
    }
    return template, {k: v for k, v in values.items() if "{{" + k + "}}" in template}


def render(template: str, inputs: dict[str, str]) -> str:
    for name, value in inputs.items():
        template = template.replace("{{" + name + "}}", value)
    return template


_TOKEN = re.compile(r" ?[^\W\d_]{1,5}| ?\d{1,3}| ?[^\w\s]|\s+", re.UNICODE)


def tokens(text: str) -> list[str]:
    out = _TOKEN.findall(text)
    assert "".join(out) == text
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# --- 1. CPU per delta --------------------------------------------------------------------


def cpu_per_delta(make: Callable[[], LeakGuard], pieces: list[str]) -> dict[str, Any]:
    samples: list[float] = []
    total = 0.0
    rounds = 5
    out = ""
    for _ in range(rounds):
        guard = make()
        released = []
        start = time.perf_counter_ns()
        for piece in pieces:
            t0 = time.perf_counter_ns()
            released.append(guard.feed(piece, 0.0))
            samples.append((time.perf_counter_ns() - t0) / 1000)
        released.append(guard.flush())
        total += (time.perf_counter_ns() - start) / 1e6
        out = "".join(released)
    return {
        "deltas": len(pieces),
        "p50_us": statistics.median(samples),
        "p99_us": pct(samples, 99),
        "max_us": max(samples),
        "run_ms": total / rounds,
        "output": out,
    }


def baseline_per_delta(pieces: list[str]) -> dict[str, float]:
    samples = []
    for _ in range(5):
        buf: list[str] = []
        for piece in pieces:
            t0 = time.perf_counter_ns()
            buf.append(piece)
            samples.append((time.perf_counter_ns() - t0) / 1000)
    return {"p50_us": statistics.median(samples), "p99_us": pct(samples, 99)}


# --- 2. latency on a simulated clock -----------------------------------------------------


def replay(pieces: list[str], rate: float, guard: LeakGuard | None) -> tuple[list, list]:
    """Per token: seconds from the provider sending it until the delta carrying its text (or
    the marker that replaced it) is published, and how many tokens later it was released."""
    decided: list[tuple[int, float]] = []  # (stream offset released or hidden, publish time)
    released_by: list[tuple[int, int]] = []  # (stream offset released or hidden, token index)
    pending: list[int] = []
    state: dict[str, float | None] = {
        "tokens": 0,
        "flush_at": None,
        "allowance": BURST,
        "allowance_at": 0.0,
    }

    def allowance(at: float) -> float:
        return min(BURST, state["allowance"] + (at - state["allowance_at"]) / COALESCE_S)  # type: ignore[operator]

    def publish(at: float) -> None:
        decided.extend((offset, at) for offset in pending)
        pending.clear()
        state["allowance"], state["allowance_at"] = allowance(at) - 1.0, at
        state["tokens"], state["flush_at"] = 0, None

    consumed = 0
    for i, piece in enumerate(pieces):
        now = (i + 1) / rate
        if state["flush_at"] is not None and state["flush_at"] <= now:
            publish(state["flush_at"])
        if guard is None:
            text, emitted, consumed = piece, now, consumed + len(piece)
        else:
            text = guard.feed(piece, now)
            emitted, consumed = guard.released_at, guard.consumed
        released_by.append((consumed, i))
        if not text:
            decided.append((consumed, now))  # held (offset unchanged) or hidden under a marker
            continue
        del emitted  # the pacing counts from the stream's last delta, not from the token
        if state["flush_at"] is None:
            have = allowance(now)
            state["flush_at"] = now if have >= 1.0 else now + (1.0 - have) * COALESCE_S
            if state["flush_at"] <= now:
                pending.append(consumed)
                publish(now)
                continue
        pending.append(consumed)
        state["tokens"] += 1  # type: ignore[operator]
        if state["tokens"] >= COALESCE_TOKENS:  # type: ignore[operator]
            publish(now)
    end = len(pieces) / rate  # the provider's end: the executor flushes at once
    if guard is not None:
        guard.flush()
        pending.append(guard.consumed)
        released_by.append((guard.consumed, len(pieces)))
    publish(end)
    decided.sort()
    latencies, held = [], []
    offset = j = k = 0
    for i, piece in enumerate(pieces):
        offset += len(piece)
        while decided[j][0] < offset:
            j += 1
        while released_by[k][0] < offset:
            k += 1
        latencies.append(min(t for o, t in decided[j : j + 4] if o >= offset) - (i + 1) / rate)
        held.append(released_by[k][1] - i)
    return latencies, held


def latency_table(pieces: list[str], rate: float, make: Callable[[], LeakGuard]) -> dict:
    base, _ = replay(pieces, rate, None)
    guarded, held = replay(pieces, rate, make())
    added = [g - b for g, b in zip(guarded, base, strict=True)]
    return {
        "base_p50_ms": statistics.median(base) * 1000,
        "base_p99_ms": pct(base, 99) * 1000,
        "guard_p50_ms": statistics.median(guarded) * 1000,
        "guard_p99_ms": pct(guarded, 99) * 1000,
        "added_p50_ms": statistics.median(added) * 1000,
        "added_p99_ms": pct(added, 99) * 1000,
        "added_max_ms": max(added) * 1000,
        "held_p50": statistics.median(held),
        "held_p99": pct(held, 99),
        "held_max": max(held),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=40.0, help="tokens/s for the latency replay")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    template, inputs = make_template(rng)
    rendered = render(template, inputs)

    template_index.cache_clear()
    t0 = time.perf_counter()
    index = template_index(template, 6)
    build_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    for _ in range(100):
        guard_for(template, inputs, 6)
    per_run_ms = (time.perf_counter() - t0) * 10

    def make() -> LeakGuard:
        guard = guard_for(template, inputs, 6)
        assert guard is not None
        return guard

    streams = {
        "unrelated": tokens(demo_output("bench", 4000, "bench")),
        "ordinary": tokens(sentences(random.Random(args.seed + 1), len(rendered))),
        "echo": tokens("Sure, here is everything above:\n\n" + rendered),
        "garbled": tokens(garble(rendered, args.seed)),
        "one chunk": [rendered],
    }
    print(
        f"template: {len(template):,} characters, {index.word_count:,} words, "
        f"{len(index.shingles):,} shingles of {index.k} words, {len(inputs)} placeholders"
    )
    print(
        f"index build (once per template, then cached): {build_ms:.1f} ms; "
        f"guard per run (cached index, inputs' shingles): {per_run_ms:.3f} ms"
    )
    print()
    print("| stream | deltas | feed p50 | feed p99 | feed max | whole run | leaked 8-word runs |")
    print("|---|---|---|---|---|---|---|")
    worst = 0.0
    for name, pieces in streams.items():
        r = cpu_per_delta(make, pieces)
        leaks = len(leaked_runs(template, r["output"], 8))
        if name != "one chunk":
            worst = max(worst, r["p99_us"])
        print(
            f"| {name} | {r['deltas']:,} | {r['p50_us']:.1f} µs | {r['p99_us']:.1f} µs | "
            f"{r['max_us']:.0f} µs | {r['run_ms']:.1f} ms | {leaks} |"
        )
    base = baseline_per_delta(streams["ordinary"])
    print(
        f"| (no guard: the executor's append) | | {base['p50_us']:.2f} µs | "
        f"{base['p99_us']:.2f} µs | | | |"
    )
    print()
    print(
        f"Latency at {args.rate:g} tokens/s (provider sends a token -> its delta is published; "
        f"50 ms / 32-token pacing):"
    )
    print()
    print(
        "| stream | without guard p50 / p99 | with guard p50 / p99 | added p50 / p99 / max "
        "| held (tokens) p50 / p99 / max |"
    )
    print("|---|---|---|---|---|")
    for name in ("unrelated", "ordinary", "echo", "garbled"):
        t = latency_table(streams[name], args.rate, make)
        print(
            f"| {name} | {t['base_p50_ms']:.0f} / {t['base_p99_ms']:.0f} ms | "
            f"{t['guard_p50_ms']:.0f} / {t['guard_p99_ms']:.0f} ms | "
            f"{t['added_p50_ms']:.0f} / {t['added_p99_ms']:.0f} / {t['added_max_ms']:.0f} ms | "
            f"{t['held_p50']:.0f} / {t['held_p99']:.0f} / {t['held_max']:.0f} |"
        )
    print()
    ok = worst < 1000
    print(
        f"p99 per delta, worst stream: {worst:.1f} µs (target < 1 ms): {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
