"""Apply every app's migrations (`python -m hub.migrate`); safe to run on every start."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os

os.environ.setdefault("PICCOLO_CONF", "piccolo_conf")


async def migrate(quiet: bool = True) -> None:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    out = io.StringIO()
    with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
        result = await run_forwards("all")
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}\n{out.getvalue()}")


if __name__ == "__main__":
    asyncio.run(migrate(quiet=False))
