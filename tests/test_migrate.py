"""Migrations on start: N app replicas starting together migrate one at a time."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent


def _on(database_url: str, name: str) -> str:
    base, _, query = database_url.partition("?")
    return base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")


async def test_three_processes_migrating_an_empty_database_at_once_all_succeed(database_url):
    name = f"mig_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _on(database_url, name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"DATABASE_URL": url, "HUB_ENV": "test", "PYTHONPATH": str(ROOT)})
    try:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "hub.platform.migrate",
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(3)
        ]
        results = [await p.communicate() for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], [e.decode()[-500:] for _, e in results]
        db = await asyncpg.connect(url)
        try:
            applied = await db.fetchval("SELECT count(*) FROM migration")
            distinct = await db.fetchval("SELECT count(DISTINCT (app_name, name)) FROM migration")
            assert applied == distinct > 0  # each migration applied once
            assert await db.fetchval("SELECT to_regclass('users') IS NOT NULL")
        finally:
            await db.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
