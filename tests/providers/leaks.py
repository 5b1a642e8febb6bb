"""Test-side tools for the leak guard: an independent leak checker and an echo garbler.

The checker deliberately does not use hub.runs.leak_guard: it normalises with NFKC + casefold
and cuts words with a plain regex, so a bug in the guard's own normaliser cannot hide a leak
from the tests.
"""

from __future__ import annotations

import random
import re
import unicodedata

_PLACEHOLDER = re.compile(r"\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}")
_WORD = re.compile(r"[^\W_]+")


def plain_words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def template_words(template: str) -> list[str]:
    """The template's own words, in order, without its placeholders."""
    out: list[str] = []
    for segment in _PLACEHOLDER.split(template):
        out.extend(plain_words(segment))
    return out


def leaked_runs(template: str, text: str, n: int = 8) -> list[str]:
    """Every run of `n` consecutive template words that appears in `text` as `n` consecutive
    words (case, spacing, punctuation and Unicode compatibility forms ignored)."""
    t = template_words(template)
    grams = {tuple(t[i : i + n]) for i in range(len(t) - n + 1)}
    w = plain_words(text)
    return [" ".join(w[i : i + n]) for i in range(len(w) - n + 1) if tuple(w[i : i + n]) in grams]


_SEPARATORS = [
    " ",
    "  ",
    "\n",
    "\t",
    " \n\n",
    "\u00a0",  # no-break space
    "\u3000",  # ideographic space
    ", ",
    "; ",
    " - ",
    "... ",
    " \u2014 ",  # em dash
    ' "',
    "' ",
    " **",
    "** ",
    " (",
    ") ",
    ":\n- ",
    "\u200b ",  # zero-width space next to a real one
]


def _fullwidth(word: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in word)


def garble(text: str, seed: int) -> str:
    """`text` with changed case, spacing and punctuation (and some full-width letters): the
    same words to a reader, different bytes to a naive filter."""
    rng = random.Random(seed)
    out: list[str] = []
    for piece in re.split(r"([^\W_]+)", text):
        if not piece:
            continue
        if _WORD.fullmatch(piece):
            style = rng.randrange(6)
            if style == 0:
                piece = piece.upper()
            elif style == 1:
                piece = piece.lower()
            elif style == 2:
                piece = piece.capitalize()
            elif style == 3:
                piece = "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(piece))
            elif style == 4:
                piece = _fullwidth(piece)
            out.append(piece)
        else:
            out.append(rng.choice(_SEPARATORS))
    return "".join(out)


def chunks(text: str, seed: int, longest: int = 7) -> list[str]:
    """`text` cut at random places (inside words too), as a model's tokens would be."""
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(text):
        step = rng.randint(1, longest)
        out.append(text[i : i + step])
        i += step
    return out
