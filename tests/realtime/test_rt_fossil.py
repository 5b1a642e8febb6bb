"""The fossil delta encoder against the decoder of the official centrifuge-python SDK."""

from __future__ import annotations

from centrifuge.fossil import apply_delta
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime import fossil

edits = st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 40), st.text(max_size=30)), max_size=12
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000), edits)
def test_every_delta_rebuilds_its_target_and_is_utf8(source: str, changes) -> None:
    target = source
    for at, length, insert in changes:
        at %= len(target) + 1
        target = target[:at] + insert + target[at + length :]
    src, tgt = source.encode(), target.encode()
    delta = fossil.create(src, tgt)
    delta.decode("utf-8")  # JSON clients carry it in a JSON string
    assert bytes(apply_delta(src, delta)) == tgt


def test_a_small_change_to_a_large_document_is_a_small_delta() -> None:
    doc = ("{" + ",".join(f'"k{i}": "value number {i}"' for i in range(300)) + "}").encode()
    changed = doc.replace(b'"value number 150"', b'"value number 151"')
    delta = fossil.create(doc, changed)
    assert len(delta) < 60 < len(doc)
    assert bytes(apply_delta(doc, delta)) == changed


def test_unrelated_or_empty_inputs() -> None:
    for src, tgt in ((b"", b""), (b"", b"abc"), (b"abc", b""), (b"x" * 40, b"y" * 40)):
        assert bytes(apply_delta(src, fossil.create(src, tgt))) == tgt
