"""Apply every app's migrations (`python -m hub.platform.migrate`); safe to run on every start, also by
several processes at once (N app replicas starting together): a Postgres advisory lock lets
one migrate while the others wait, then find nothing left to do."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os

os.environ.setdefault("PICCOLO_CONF", "piccolo_conf")


#: pg_advisory_lock key of `migrate` (any constant no other code uses).
MIGRATION_LOCK = 0x6875625F6D6967  # "hub_mig"


async def migrate(quiet: bool = True) -> None:
    import asyncpg
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from hub.platform.settings import get_settings

    lock = await asyncpg.connect(get_settings().database_url)
    try:
        await lock.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        out = io.StringIO()
        with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
            result = await run_forwards("all")
        if not result.success:
            raise RuntimeError(f"migrations failed: {result.message}\n{out.getvalue()}")
    finally:
        await lock.close()  # ends the session: the lock goes with it


if __name__ == "__main__":
    asyncio.run(migrate(quiet=False))
