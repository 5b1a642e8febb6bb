"""Fossil delta encoding (the format centrifuge-js and centrifuge-python decode for
`delta: "fossil"` subscriptions), written from the public format description.

A delta is: the target's length as a base-64 integer and "\\n"; then segments, each either
`<count>@<offset>,` (copy `count` bytes of the source from `offset`) or `<count>:` followed by
`count` literal bytes; then the target's checksum as an integer and ";". Integers use the
digits `0-9 A-Z _ a-z ~` (values 0..63), most significant first. The checksum is the 32-bit
sum of the target read as big-endian 32-bit words (the last one zero-padded).

The encoder indexes the source in blocks of 16 bytes and scans the target for them, extending
each hit both ways; every segment starts and ends on a UTF-8 character boundary, so a delta
of UTF-8 text is itself valid UTF-8 (JSON clients carry deltas in JSON strings).
"""

from __future__ import annotations

import struct

_DIGITS = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~"
BLOCK = 16


def _int(n: int) -> bytes:
    if n == 0:
        return b"0"
    out = bytearray()
    while n:
        out.append(_DIGITS[n & 63])
        n >>= 6
    out.reverse()
    return bytes(out)


def checksum(data: bytes) -> int:
    pad = -len(data) % 4
    words = struct.unpack(f">{(len(data) + pad) // 4}I", data + b"\0" * pad)
    return sum(words) & 0xFFFFFFFF


def _boundary(data: bytes, i: int) -> bool:
    """True when position i starts a UTF-8 character (or is the end)."""
    return i >= len(data) or (data[i] & 0xC0) != 0x80


def create(source: bytes, target: bytes) -> bytes:
    """A delta that turns `source` into `target`."""
    out = bytearray(_int(len(target)) + b"\n")
    n = len(target)
    index: dict[bytes, int] = {}
    if len(source) >= BLOCK:
        for block in range(0, len(source) - BLOCK + 1, BLOCK):
            index.setdefault(source[block : block + BLOCK], block)
    literal = 0  # start of the target bytes not yet emitted
    j = 0
    while index and j + BLOCK <= n:
        off = index.get(target[j : j + BLOCK])
        if off is None:
            j += 1
            continue
        # Extend the match backwards into the pending literal, then forwards.
        start, src = j, off
        while start > literal and src > 0 and target[start - 1] == source[src - 1]:
            start -= 1
            src -= 1
        end, src_end = j + BLOCK, off + BLOCK
        while end < n and src_end < len(source) and target[end] == source[src_end]:
            end += 1
            src_end += 1
        # Segments on character boundaries: the delta of UTF-8 text stays UTF-8.
        while not _boundary(target, start) and start < end:
            start += 1
            src += 1
        while not _boundary(target, end) and end > start:
            end -= 1
        if end - start < BLOCK:
            j += 1
            continue
        if start > literal:
            out += _int(start - literal) + b":" + target[literal:start]
        out += _int(end - start) + b"@" + _int(src) + b","
        literal = j = end
    if literal < n:
        out += _int(n - literal) + b":" + target[literal:]
    out += _int(checksum(target)) + b";"
    return bytes(out)
