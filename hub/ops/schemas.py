"""Operations bodies (msgspec): liveness and readiness."""

from __future__ import annotations

import msgspec


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    checks: dict[str, str]
    down: list[str]
