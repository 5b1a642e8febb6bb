"""Demo runs for `make run`: bob has bought two of the demo prompts (completed demo runs),
so wallets, ledgers, sales and earnings have something to show. Idempotent: each run has a
fixed Idempotency-Key, and a run that already ended is not executed again."""

from __future__ import annotations

from typing import Literal

import httpx
import structlog

from hub.platform.db import fetchrow
from hub.runs import executor
from hub.runs.jobs import jobs_held_back
from hub.runs.schemas import RunRequest
from hub.runs.start import start_run

log = structlog.get_logger(__name__)

#: (buyer, prompt owner, prompt title, visibility, inputs)
DEMO_RUNS: list[tuple[str, str, str, Literal["private", "public"], dict[str, str]]] = [
    (
        "bob",
        "alice",
        "Cold email that gets replies",
        "public",
        {"recipient_role": "Head of Data", "company": "Acme", "offer": "a data-quality audit"},
    ),
    (
        "bob",
        "carol",
        "Code review checklist",
        "private",
        {"language": "Python", "code": "def add(a, b): return a - b"},
    ),
]


async def _prompt(owner_handle: str, title: str) -> dict | None:
    return await fetchrow(
        "SELECT p.id FROM prompts p JOIN users u ON u.id = p.owner_id "
        "WHERE lower(u.handle) = lower($1) AND p.title = $2",
        owner_handle,
        title,
    )


async def seed() -> None:
    made = 0
    async with httpx.AsyncClient(timeout=30) as http:
        for buyer_handle, owner_handle, title, visibility, inputs in DEMO_RUNS:
            buyer = await fetchrow(
                "SELECT id FROM users WHERE lower(handle) = lower($1)", buyer_handle
            )
            prompt = await _prompt(owner_handle, title)
            if buyer is None or prompt is None:
                continue
            with jobs_held_back():  # executed right here, not by a worker
                run = await start_run(
                    str(buyer["id"]),
                    str(prompt["id"]),
                    RunRequest(inputs=inputs, visibility=visibility, max_tokens=60),
                    f"seed:{buyer_handle}:{title}",
                )
            if run.status == "queued":
                await executor.execute(run.id, run.attempt, worker_id="seed", http=http)
                made += 1
    log.info("seed.runs", runs_executed=made)
