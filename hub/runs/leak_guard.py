"""The leak guard: hides template text in a run's output before it leaves the worker.

In Private Mode the buyer must never read the template, yet the template reaches the model,
and a buyer's input can ask the model to repeat it. The guard sits between the provider and
everything downstream (the published deltas, the saved output, samples, exports): it holds
back the last few words of output, and replaces every run of `k` or more consecutive template
words (compared after normalisation) with `MARKER` before the text is released.

How text is compared. Text is cut into words; each word is reduced to a key:
- Unicode compatibility forms and case are folded (NFKD per character, then `casefold`), and
  accents and other combining marks are dropped ("Ｃafé" and "CAFE" are the same word);
- whitespace and punctuation only separate words, so spacing, line breaks, quotes, commas or
  markdown around the words change nothing;
- invisible format characters (zero-width spaces, soft hyphens) are ignored inside words;
- each CJK ideograph or kana is a word of its own (those scripts are written without spaces).
A *shingle* is a sequence of `k` consecutive word keys of the template, with the `{{name}}`
placeholders removed: the values filling them are the buyer's, not the creator's. Shingles
that also occur in the buyer's own input values are dropped, so echoing one's own input is
always allowed (and redaction cannot confirm a guess typed into an input).

What gets through. A span of output is hidden when each of its words lies in some window of
`k` consecutive output words equal to a template shingle; overlapping or adjacent windows
merge into one marker. So no `k` consecutive template words are ever released, whatever the
token boundaries, and a single changed word in a long verbatim copy leaves only that word
visible. A paraphrase, a translation, an encoding (base64, spelling letter by letter) or
words of a template shorter than `k` words are not caught.

Latency. A word is held only while it may still start a match: while the words from it to
the latest one are the beginning of some template shingle. Ordinary output is released as
soon as each word is complete (the word being written is always held); output that is
following the template is held for at most `k - 1` complete words, until it either matches
(and is hidden) or stops following it. After a hidden span the separator that follows it is
held too (the next word may continue the span). `flush()` releases the rest at the end.

The module is pure (no I/O, no clock): feed it text, get back the releasable text.
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

MARKER = "[hidden by Private Mode]"
DEFAULT_WORDS = 6
MIN_WORDS = 4  # shorter shingles would hide ordinary phrases; shorter templates go unguarded

_PLACEHOLDER = re.compile(r"\{\{\s*[A-Za-z_][A-Za-z0-9_]{0,39}\s*\}\}")

# Character classes: a separator, part of a word (with its folded key, possibly "" for an
# invisible or combining character), or a word on its own (CJK).
_SEP = 0
_WORD = 1
_SOLO = 2

_classes: dict[str, tuple[int, str]] = {}


def _is_solo(code: int) -> bool:
    return (
        0x3040 <= code <= 0x30FF  # hiragana, katakana
        or 0x3400 <= code <= 0x4DBF  # CJK extension A
        or 0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= code <= 0xFAFF  # CJK compatibility ideographs
        or 0x20000 <= code <= 0x3134F  # CJK extensions B-G
    )


def _classify(char: str) -> tuple[int, str]:
    """(class, key) of one character; cached, since text repeats few distinct characters."""
    found = _classes.get(char)
    if found is not None:
        return found
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", char).casefold())
    key = "".join(c for c in folded if c.isalnum())
    category = unicodedata.category(char)
    if key:
        result = (_SOLO if _is_solo(ord(key[0])) and len(key) == 1 else _WORD, key)
    elif category in ("Mn", "Me", "Cf"):
        result = (_WORD, "")  # accents, zero-width characters: part of the word, no key
    elif category == "Mc":
        result = (_WORD, char)  # spacing vowel signs (Devanagari, ...) belong to the word
    else:
        result = (_SEP, "")
    if len(_classes) < 200_000:
        _classes[char] = result
    return result


def words(text: str) -> list[str]:
    """The word keys of `text`, as the guard compares them (for tests and the index)."""
    out: list[str] = []
    current: list[str] = []
    for char in text:
        kind, key = _classify(char)
        if kind == _WORD:
            if key or current:
                current.append(key)
            continue
        if current:
            out.append("".join(current))
            current = []
        if kind == _SOLO:
            out.append(key)
    if current:
        out.append("".join(current))
    return [w for w in out if w]


@dataclass(frozen=True)
class TemplateIndex:
    """The shingles of one template: built once per template (and cached), shared by runs."""

    k: int
    shingles: frozenset[tuple[str, ...]]
    prefixes: frozenset[tuple[str, ...]]  # the shingles' first 1 .. k-1 words
    word_count: int

    @property
    def empty(self) -> bool:
        return not self.shingles


@lru_cache(maxsize=128)
def template_index(template: str, k: int = DEFAULT_WORDS) -> TemplateIndex:
    """Index `template`'s word shingles. Placeholders are left out (their values are the
    buyer's). A template of fewer than `k` words uses all its words as one shingle, down to
    MIN_WORDS; a shorter one has nothing to hide."""
    keys: list[str] = []
    for segment in _PLACEHOLDER.split(template):
        keys.extend(words(segment))
    size = max(MIN_WORDS, min(k, len(keys)))
    shingles = frozenset(tuple(keys[i : i + size]) for i in range(len(keys) - size + 1))
    prefixes = frozenset(s[:n] for s in shingles for n in range(1, size))
    return TemplateIndex(k=size, shingles=shingles, prefixes=prefixes, word_count=len(keys))


def input_shingles(values: Iterable[str], k: int) -> frozenset[tuple[str, ...]]:
    """The shingles of the buyer's own input values: echoing those is never hidden."""
    out: set[tuple[str, ...]] = set()
    for value in values:
        keys = words(str(value))
        out.update(tuple(keys[i : i + k]) for i in range(len(keys) - k + 1))
    return frozenset(out)


class _Word:
    __slots__ = ("end", "key", "redacted", "start")

    def __init__(self, start: int, end: int, key: str) -> None:
        self.start = start
        self.end = end
        self.key = key
        self.redacted = False


class LeakGuard:
    """One run attempt's guard: `feed()` each token's text, publish what it returns, and
    `flush()` once at the end of the stream.

    `at` (any clock, e.g. time.time()) stamps each fed piece so that `released_at` can say
    when the provider sent the first character of the most recent released text.
    """

    def __init__(self, index: TemplateIndex, inputs: Iterable[str] = ()) -> None:
        self.k = index.k
        self._shingles = index.shingles
        self._prefixes = index.prefixes
        self._allowed = input_shingles(inputs, index.k) if index.shingles else frozenset()
        self._buf = ""  # text not yet released
        self._scan = 0  # next index of _buf to classify
        self._held: list[_Word] = []  # complete words not yet released
        self._window: deque[str] = deque(maxlen=index.k)  # keys of the last k words
        self._cur_start = -1  # start of the word being written, or -1
        self._cur_key: list[str] = []
        self._open_run = False  # the released text ends inside a hidden span
        self._fed: deque[tuple[int, float]] = deque()  # (end offset in the stream, at)
        self._offset = 0  # stream offset of _buf[0]
        self.redactions = 0  # markers emitted (hidden spans)
        self.hidden_words = 0
        self.released_at = 0.0

    @property
    def active(self) -> bool:
        return bool(self._shingles)

    @property
    def held(self) -> int:
        """Characters received but not yet released."""
        return len(self._buf)

    @property
    def consumed(self) -> int:
        """Characters received and already released or hidden (the stream offset of the
        first held character)."""
        return self._offset

    @property
    def held_words(self) -> int:
        """Words received but not yet released (complete ones and the one being written)."""
        return len(self._held) + (self._cur_start >= 0)

    def feed(self, text: str, at: float = 0.0) -> str:
        """Take the next piece of output; return the text that may be released now."""
        if not text:
            return ""
        self._buf += text
        self._fed.append((self._offset + len(self._buf), at))
        self._scan_new()
        return self._release(final=False)

    def flush(self) -> str:
        """The end of the stream: the word being written is complete; release everything."""
        self._scan_new()
        if self._cur_start >= 0:
            self._complete(len(self._buf))
        return self._release(final=True)

    # --- scanning ----------------------------------------------------------------------

    def _scan_new(self) -> None:
        buf = self._buf
        classify = _classify
        for i in range(self._scan, len(buf)):
            kind, key = classify(buf[i])
            if kind == _WORD:
                if self._cur_start < 0:
                    if not key:
                        continue  # a stray mark or zero-width character between words
                    self._cur_start = i
                self._cur_key.append(key)
                continue
            if self._cur_start >= 0:
                self._complete(i)
            if kind == _SOLO:
                self._cur_start = i
                self._cur_key.append(key)
                self._complete(i + 1)
        self._scan = len(buf)

    def _complete(self, end: int) -> None:
        word = _Word(self._cur_start, end, "".join(self._cur_key))
        self._cur_start = -1
        self._cur_key = []
        self._held.append(word)
        self._window.append(word.key)
        if len(self._window) == self.k:
            shingle = tuple(self._window)
            if shingle in self._shingles and shingle not in self._allowed:
                for w in self._held[-self.k :]:
                    w.redacted = True

    # --- releasing ---------------------------------------------------------------------

    def _release(self, *, final: bool) -> str:
        held = self._held
        if final:
            n_final, bound = len(held), len(self._buf)
        else:
            n_final = self._first_undecided()
            if n_final < len(held):
                bound = held[n_final].start
            elif self._cur_start >= 0:
                bound = self._cur_start
            else:
                bound = len(self._buf)
            if n_final and held[n_final - 1].redacted:
                bound = held[n_final - 1].end  # the next word may continue the hidden span
            elif not n_final and self._open_run:
                bound = 0
        if bound == 0 and not n_final:
            return ""
        out: list[str] = []
        pos = 0
        buf = self._buf
        for w in held[:n_final]:
            if w.redacted:
                if not self._open_run:
                    out.append(buf[pos : w.start])
                    out.append(MARKER)
                    self.redactions += 1
                    self._open_run = True
                self.hidden_words += 1
            else:
                out.append(buf[pos : w.end])
                self._open_run = False
            pos = w.end
        if bound > pos:
            out.append(buf[pos:bound])
            if final:
                self._open_run = False
        self._mark_released(bound)
        del held[:n_final]
        for w in held:
            w.start -= bound
            w.end -= bound
        if self._cur_start >= 0:
            self._cur_start -= bound
        self._buf = buf[bound:]
        self._scan -= bound
        self._offset += bound
        return "".join(out)

    def _first_undecided(self) -> int:
        """Index in `_held` of the first word a later match could still cover: the earliest
        word from which the held words so far begin a template shingle (at most k-1 back)."""
        held = self._held
        n = len(held)
        for start in range(max(0, n - (self.k - 1)), n):
            if tuple(w.key for w in held[start:]) in self._prefixes:
                return start
        return n

    def _mark_released(self, bound: int) -> None:
        """`released_at`: when the first character released now was fed."""
        if bound <= 0:
            return
        first = self._offset
        while self._fed and self._fed[0][0] <= first:
            self._fed.popleft()
        if self._fed:
            self.released_at = self._fed[0][1]


def guard_for(template: str, inputs: dict[str, str], k: int = DEFAULT_WORDS) -> LeakGuard | None:
    """A guard for one run of `template` with the buyer's `inputs`, or None when the
    template is too short to have anything to hide."""
    index = template_index(template, k)
    if index.empty:
        return None
    return LeakGuard(index, inputs.values())
