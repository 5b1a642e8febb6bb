"""The `popular` sort: runs of the last 7 days, denormalised into `prompts.runs_7d`.

Counting runs per prompt at query time cannot use an index for the sort, so a cron job
(workers/feeds.py, every 10 minutes) refreshes the counter, which `prompts_popular_idx`
indexes. Only rows whose count changed are written.
"""

from __future__ import annotations

from hub.platform.db import fetch, transaction


async def refresh_runs_7d() -> int:
    """Set runs_7d from the `runs` table; returns how many prompts changed."""
    async with transaction():
        rows = await fetch(
            "WITH counts AS (SELECT prompt_id, count(*)::int AS n FROM runs "
            "WHERE created_at > now() - interval '7 days' GROUP BY prompt_id), "
            "up AS (UPDATE prompts p SET runs_7d = c.n FROM counts c "
            "WHERE p.id = c.prompt_id AND p.runs_7d <> c.n RETURNING p.id), "
            "down AS (UPDATE prompts p SET runs_7d = 0 WHERE p.runs_7d > 0 "
            "AND NOT EXISTS (SELECT 1 FROM counts c WHERE c.prompt_id = p.id) RETURNING p.id) "
            "SELECT (SELECT count(*) FROM up) + (SELECT count(*) FROM down) AS n"
        )
    return int(rows[0]["n"]) if rows else 0
