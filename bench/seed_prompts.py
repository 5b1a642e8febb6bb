"""Seed 100k prompts (plus follows, feed items, notifications, reviews) and EXPLAIN the
marketplace's hot queries, flagging any sequential scan.

    .venv/bin/python bench/seed_prompts.py [--prompts 100000] [--markdown]

Uses DATABASE_URL when set (a database you can throw away: the bench creates and drops
`bench_marketplace`), otherwise an embedded PostgreSQL in /tmp/bench-marketplace-pg.
The queries are the ones the API runs: listing SQL comes from hub.prompts.listing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE = "bench_marketplace"


def _database_url() -> tuple[str, Any]:
    url = os.environ.get("DATABASE_URL")
    if url:
        import asyncpg

        async def recreate() -> None:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
                await conn.execute(f'CREATE DATABASE "{DATABASE}"')
            finally:
                await conn.close()

        asyncio.run(recreate())
        base, _, query = url.partition("?")
        return base.rsplit("/", 1)[0] + f"/{DATABASE}" + (f"?{query}" if query else ""), None
    from hub.dev.embedded import start_postgres

    return start_postgres(Path("/tmp/bench-marketplace-pg"), DATABASE)


SEED_SQL = [
    # creators and buyers
    """
    INSERT INTO users (email, handle, display_name, password_hash)
    SELECT 'bench' || i || '@example.com', 'bench_' || i, 'Bench user ' || i, '!'
    FROM generate_series(1, $1) AS i
    ON CONFLICT DO NOTHING
    """,
    # prompts: 50 category words (each in ~2-4% of prompts) plus 1,000 synthetic words, so
    # full-text queries have a realistic spread of selectivity
    """
    CREATE OR REPLACE FUNCTION bench_word(k int) RETURNS text LANGUAGE sql IMMUTABLE AS $f$
        SELECT (ARRAY['ka','lo','mi','ren','tus','vel','dor','pan','sie','gro'])[1 + k % 10]
            || (ARRAY['ba','ne','ri','zo','lu','fen','mar','tol','cy','wex'])[1 + (k / 10) % 10]
            || (ARRAY['dak','mon','pix','rul','sem','tav','vorn','gil','hep','jux'])[1 + (k / 100) % 10]
    $f$
    """,
    """
    WITH words AS (
        SELECT ARRAY['haiku','email','sales','code','review','python','story','poem','essay',
          'summary','tweet','resume','cover','letter','marketing','seo','blog','recipe',
          'travel','fitness','legal','contract','startup','pitch','product','description',
          'translation','french','spanish','math','tutor','interview','question','sql','regex',
          'bug','refactor','test','lyrics','song','joke','speech','wedding','birthday',
          'newsletter','podcast','script','video','youtube','ad'] AS w
    ), owners AS (
        SELECT array_agg(id ORDER BY handle) AS ids FROM users
        WHERE handle LIKE 'bench\\_%' AND substr(handle, 7)::int <= 1000
    )
    INSERT INTO prompts (owner_id, title, description, template, variables, model, price_cents,
        private_mode, tags, status, runs_7d, rating_sum, rating_count, created_at, updated_at)
    SELECT
        owners.ids[1 + (i % cardinality(owners.ids))],
        initcap(w[1 + (i * 7) % 50]) || ' ' || bench_word(abs(hashtext(i || 'a')) % 1000)
            || ' ' || bench_word(abs(hashtext(i || 'b')) % 1000) || ' #' || i,
        'Generates ' || bench_word(abs(hashtext(i || 'c')) % 1000) || ' '
            || bench_word(abs(hashtext(i || 'd')) % 1000) || ' for your '
            || w[1 + (i * 13) % 50] || '.',
        'Template ' || i || ' about {{topic}}',
        ARRAY['topic'],
        CASE WHEN i % 10 = 0 THEN 'gpt-4o-mini' ELSE 'demo' END,
        (i * 37) % 500,
        i % 20 = 0,
        ARRAY[w[1 + (i * 3) % 50], bench_word(abs(hashtext(i || 'e')) % 200)],
        CASE WHEN i % 33 = 0 THEN 'archived' ELSE 'active' END,
        CASE WHEN abs(hashtext(i || 'p')) % 5 = 0 THEN abs(hashtext(i || 'q')) % 300 ELSE 0 END,
        CASE WHEN abs(hashtext(i || 'r')) % 4 = 0
            THEN (abs(hashtext(i || 's')) % 5 + 1) * (abs(hashtext(i || 't')) % 50 + 1) ELSE 0 END,
        CASE WHEN abs(hashtext(i || 'r')) % 4 = 0 THEN abs(hashtext(i || 't')) % 50 + 1 ELSE 0 END,
        now() - make_interval(secs => i * 300),
        now() - make_interval(secs => i * 300)
    FROM generate_series(1, $1) AS i, words, owners
    """,
    # 2,000 users follow 25 of the 1,000 creators each
    """
    INSERT INTO follows (follower_id, followee_id)
    SELECT a.id, b.id FROM users a
    JOIN LATERAL (SELECT id FROM users WHERE handle LIKE 'bench\\_%' AND id <> a.id
                  AND substr(handle, 7)::int <= 1000
                  ORDER BY md5(a.id::text || id::text) LIMIT 25) b ON true
    WHERE a.handle LIKE 'bench\\_%' AND substr(a.handle, 7)::int <= 2000
    ON CONFLICT DO NOTHING
    """,
    """
    INSERT INTO creator_stats (user_id, follower_count, following_count)
    SELECT u.id, (SELECT count(*) FROM follows WHERE followee_id = u.id),
           (SELECT count(*) FROM follows WHERE follower_id = u.id)
    FROM users u WHERE handle LIKE 'bench\\_%' AND substr(handle, 7)::int <= 2000
    ON CONFLICT (user_id) DO NOTHING
    """,
    # feed: the 20 newest prompts of each followed creator
    """
    INSERT INTO feed_items (user_id, kind, actor_id, prompt_id, version, created_at)
    SELECT f.follower_id, 'prompt.created', p.owner_id, p.id, 1, p.created_at
    FROM follows f
    JOIN LATERAL (SELECT id, owner_id, created_at FROM prompts WHERE owner_id = f.followee_id
                  ORDER BY created_at DESC LIMIT 20) p ON true
    ON CONFLICT DO NOTHING
    """,
    """
    INSERT INTO notifications (user_id, kind, actor_id, dedupe_key, read_at, created_at)
    SELECT f.followee_id, 'follower.new', f.follower_id, 'follower:' || f.follower_id,
           CASE WHEN random() < 0.7 THEN now() END, now() - random() * interval '30 days'
    FROM follows f
    ON CONFLICT DO NOTHING
    """,
    """
    INSERT INTO reviews (prompt_id, user_id, rating, body)
    SELECT p.id, u.id, 1 + (abs(hashtext(p.id::text || u.id::text)) % 5), 'Bench review'
    FROM (SELECT id FROM prompts ORDER BY created_at DESC LIMIT 2000) p
    JOIN LATERAL (SELECT id FROM users WHERE handle LIKE 'bench\\_%'
                  ORDER BY md5(p.id::text || id::text) LIMIT 10) u ON true
    ON CONFLICT DO NOTHING
    """,
]


# The marketplace's depth, at the sizes a busy hub reaches: samples with images on 20k
# prompts, a 12-item "more like this" list for every prompt and a 24-item "for you" list for
# every user, so the read plans are the ones production sees (synthetic neighbours: the
# job's own cost is measured separately, below).
DEPTH_SQL = [
    """
    INSERT INTO prompt_samples (prompt_id, title, output)
    SELECT id, 'Bench sample', 'Bench sample output' FROM prompts
    ORDER BY created_at DESC LIMIT 20000
    """,
    """
    INSERT INTO sample_media (sample_id, prompt_id, key, thumbnail_key, content_type, width,
        height, bytes, thumbnail_width, thumbnail_height)
    SELECT id, prompt_id, prompt_id || '/' || id || '.png', prompt_id || '/' || id || '.thumb.webp',
        'image/png', 800, 600, 50000, 480, 360
    FROM prompt_samples
    """,
    """
    WITH n AS (SELECT id, row_number() OVER (ORDER BY id) AS i, count(*) OVER () AS total
               FROM prompts WHERE status = 'active')
    INSERT INTO prompt_similar (prompt_id, rank, similar_id, score, reason)
    SELECT a.id, k, b.id, 1.0 / k, 'tags'
    FROM n a CROSS JOIN generate_series(1, 12) AS k
    JOIN n b ON b.i = ((a.i + k * 7919) % a.total) + 1
    WHERE b.id <> a.id
    ON CONFLICT DO NOTHING
    """,
    """
    WITH n AS (SELECT array_agg(id ORDER BY id) AS ids FROM prompts WHERE status = 'active'),
    u AS (SELECT id, row_number() OVER (ORDER BY id) AS i FROM users)
    INSERT INTO user_recommendations (user_id, rank, prompt_id, score, reason)
    SELECT u.id, k, n.ids[1 + (u.i * 31 + k * 104729) % cardinality(n.ids)], 1.0 / k, 'follows'
    FROM n, u CROSS JOIN generate_series(1, 24) AS k
    ON CONFLICT DO NOTHING
    """,
]


async def seed_depth() -> None:
    from hub.platform.db import fetch, fetchrow

    for sql in DEPTH_SQL:
        table = sql.split("INSERT INTO ", 1)[1].split()[0]
        have = await fetchrow(f"SELECT count(*) AS n FROM {table}")
        if have and have["n"] >= 10_000:
            continue
        started = time.perf_counter()
        await fetch(sql)
        print(f"-- seeded {table} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    await fetch("VACUUM (ANALYZE)")


async def seed(n_prompts: int, n_users: int) -> None:
    from hub.platform.db import fetch, fetchrow

    have = await fetchrow("SELECT count(*) AS n FROM prompts")
    if have and have["n"] >= n_prompts:
        print(f"-- {have['n']} prompts already seeded", file=sys.stderr)
        return
    args = [[n_users], [], [n_prompts]] + [[]] * (len(SEED_SQL) - 3)
    for sql, params in zip(SEED_SQL, args, strict=True):
        started = time.perf_counter()
        await fetch(sql, *params)
        if "INSERT INTO " not in sql:
            continue
        table = sql.split("INSERT INTO ", 1)[1].split()[0]
        print(f"-- seeded {table} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    await fetch("VACUUM (ANALYZE)")


async def _explain(title: str, sql: str, args: list[Any]) -> tuple[str, str, bool, float]:
    from hub.platform.db import fetch

    await fetch(sql, *args)  # warm: report the steady state, not the first touch of a page
    rows = await fetch("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, *args)
    plan = "\n".join(r["QUERY PLAN"] for r in rows)
    seq = "Seq Scan" in plan
    ms = float(plan.rsplit("Execution Time: ", 1)[1].split(" ms")[0])
    return title, plan, seq, ms


async def explain_all() -> list[tuple[str, str, bool, float]]:
    from hub.platform.db import fetchrow
    from hub.prompts.listing import ListQuery, build_list_query, list_prompts

    creator = await fetchrow("SELECT handle, id FROM users WHERE handle = 'bench_7'")
    assert creator is not None
    uid = creator["id"]
    prompt = await fetchrow(
        "SELECT id FROM prompts WHERE status = 'active' ORDER BY created_at DESC LIMIT 1"
    )
    assert prompt is not None
    first = await list_prompts(ListQuery(limit=20))
    deep = ListQuery(limit=20, cursor=first.next_cursor)
    top = await list_prompts(ListQuery(sort="top_rated", limit=20))
    queries: list[tuple[str, ListQuery]] = [
        ("GET /prompts (sort=new)", ListQuery()),
        ("GET /prompts (sort=new, page 2 via cursor)", deep),
        ("GET /prompts?sort=popular", ListQuery(sort="popular")),
        ("GET /prompts?sort=top_rated", ListQuery(sort="top_rated")),
        (
            "GET /prompts?sort=top_rated (page 2)",
            ListQuery(sort="top_rated", cursor=top.next_cursor),
        ),
        ("GET /prompts?q=haiku email (relevance)", ListQuery(q="haiku email")),
        ("GET /prompts?q=haiku&sort=new", ListQuery(q="haiku", sort="new")),
        ("GET /prompts?q=email (a common word, relevance)", ListQuery(q="email")),
        ("GET /prompts?q=kazodak (a rarer word)", ListQuery(q="kazodak")),
        ('GET /prompts?q="cover letter" -python', ListQuery(q='"cover letter" -python')),
        ("GET /prompts?tag=python", ListQuery(tag="python")),
        ("GET /prompts?tag=python&sort=top_rated", ListQuery(tag="python", sort="top_rated")),
        ("GET /prompts?creator=bench_7", ListQuery(creator="bench_7")),
        ("GET /prompts?model=gpt-4o-mini", ListQuery(model="gpt-4o-mini")),
        ("GET /prompts?min_price=100&max_price=120", ListQuery(min_price=100, max_price=120)),
        ("GET /prompts?tag=seo&max_price=50", ListQuery(tag="seo", max_price=50)),
    ]
    results = []
    for title, query in queries:
        sql, params, _ = build_list_query(query)
        results.append(await _explain(title, sql, params))
    from hub.prompts import service as prompts_service
    from hub.recommendations import compute as recommendations_compute
    from hub.recommendations import service as recommendations_service

    # The lists the two recommendation reads serve: this prompt's and this user's, as the
    # worker's job computes them; then the job's own cost over a batch of 200 prompts.
    await recommendations_compute.refresh_prompt(prompt["id"])
    await recommendations_compute.refresh_user(uid)
    batch = await recommendations_compute.stale_prompts(200, datetime.now(UTC))
    started = time.perf_counter()
    for pid in batch:
        await recommendations_compute.refresh_prompt(pid)
    per_prompt = (time.perf_counter() - started) * 1000 / max(1, len(batch))
    print(
        f"-- refresh_recommendations: {len(batch)} prompts, {per_prompt:.1f} ms per prompt",
        file=sys.stderr,
    )

    extra: list[tuple[str, str, list[Any]]] = [
        (
            "GET /prompts/{id}",
            f"SELECT {prompts_service.PUBLIC_COLUMNS}, {prompts_service.OWNER_ONLY_COLUMNS} "
            "FROM prompts p JOIN users u ON u.id = p.owner_id WHERE p.id = $2",
            [None, prompt["id"]],
        ),
        (
            "GET /prompts/{id}/similar (more like this)",
            recommendations_service.SIMILAR_SQL,
            [prompt["id"], 6],
        ),
        (
            "GET /me/recommendations (for you)",
            recommendations_service.FOR_YOU_SQL,
            [uid, 6],
        ),
        (
            "GET /prompts/{id}/samples (with their images)",
            "SELECT id FROM sample_media WHERE sample_id = ANY($1::uuid[]) "
            "ORDER BY sample_id, created_at, id",
            [[prompt["id"]]],
        ),
        (
            "GET /me/feed",
            "SELECT f.id, f.created_at, p.title, u.handle FROM feed_items f "
            "JOIN prompts p ON p.id = f.prompt_id JOIN users u ON u.id = f.actor_id "
            "WHERE f.user_id = $1 AND p.status = 'active' "
            "ORDER BY f.created_at DESC, f.id DESC LIMIT 21",
            [uid],
        ),
        (
            "GET /me/notifications?unread=true",
            "SELECT n.id FROM notifications n LEFT JOIN users a ON a.id = n.actor_id "
            "WHERE n.user_id = $1 AND n.read_at IS NULL "
            "ORDER BY n.created_at DESC, n.id DESC LIMIT 21",
            [uid],
        ),
        (
            "GET /me/following",
            "SELECT u.handle FROM follows f JOIN users u ON u.id = f.followee_id "
            "WHERE f.follower_id = $1 ORDER BY f.created_at DESC, f.followee_id DESC LIMIT 21",
            [uid],
        ),
        (
            "GET /creators/{handle} (profile + prompt count)",
            "SELECT count(*) FROM prompts WHERE owner_id = $1 AND status = 'active'",
            [uid],
        ),
        (
            "GET /prompts/{id}/reviews",
            "SELECT r.id FROM reviews r JOIN users u ON u.id = r.user_id WHERE r.prompt_id = $1 "
            "ORDER BY r.created_at DESC, r.id DESC LIMIT 21",
            [prompt["id"]],
        ),
        (
            "feed fan-out batch: followers of a creator",
            "SELECT follower_id FROM follows WHERE followee_id = $1 ORDER BY follower_id LIMIT 1000",
            [uid],
        ),
    ]
    for title, sql, args in extra:
        results.append(await _explain(title, sql, args))
    job = await _explain(
        "refresh_recommendations: one prompt's candidates (worker job, not a request; the "
        "bench seeds no runs, so its co-run part reads an empty table)",
        recommendations_compute._SIMILAR_SQL,
        [prompt["id"]],
    )
    JOB_PLANS[:] = [job]
    return results


# Plans of background jobs: printed, not part of the "no sequential scan" verdict on reads.
JOB_PLANS: list[tuple[str, str, bool, float]] = []


async def main(n_prompts: int, markdown: bool) -> int:
    os.environ.setdefault("PICCOLO_CONF", "piccolo_conf")
    from hub.platform.db import close_pool, fetchrow, start_pool
    from hub.platform.migrate import migrate

    await migrate()
    await start_pool(1, 4)
    try:
        await seed(n_prompts, max(2000, n_prompts // 5))
        await seed_depth()
        counts = await fetchrow(
            "SELECT (SELECT count(*) FROM prompts) AS prompts, (SELECT count(*) FROM users) AS "
            "users, (SELECT count(*) FROM follows) AS follows, (SELECT count(*) FROM feed_items) "
            "AS feed_items, (SELECT count(*) FROM notifications) AS notifications, "
            "(SELECT count(*) FROM reviews) AS reviews, "
            "(SELECT count(*) FROM sample_media) AS sample_images, "
            "(SELECT count(*) FROM prompt_similar) AS more_like_this_items, "
            "(SELECT count(*) FROM user_recommendations) AS for_you_items"
        )
        version = await fetchrow("SELECT current_setting('server_version') AS v")
        results = await explain_all()
    finally:
        await close_pool()
    assert counts is not None and version is not None
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    if markdown:
        print(f"Data: {summary} (PostgreSQL {version['v']}).\n")
        print("| query | execution | seq scan |\n|---|---|---|")
        for title, _, seq, ms in results:
            print(f"| `{title}` | {ms:.2f} ms | {'**yes**' if seq else 'no'} |")
        print()
        for title, _, _, ms in JOB_PLANS:
            print(f"Worker job: `{title}`: {ms:.2f} ms.\n")
        for title, plan, _, _ in results + JOB_PLANS:
            print(
                f"<details><summary><code>{title}</code></summary>\n\n```\n{plan}\n```\n</details>\n"
            )
    else:
        print(f"-- {summary}")
        for title, plan, seq, ms in results:
            print(f"\n=== {title}: {ms:.2f} ms{'  (SEQ SCAN!)' if seq else ''}\n{plan}")
    return 1 if any(seq for _, _, seq, _ in results) else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--markdown", action="store_true")
    ns = parser.parse_args()
    url, server = _database_url()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")  # not used by the bench
    os.environ.setdefault("HUB_DB_COMMAND_TIMEOUT_SECONDS", "1800")  # seeding runs long statements
    sys.exit(asyncio.run(main(ns.prompts, ns.markdown)))
