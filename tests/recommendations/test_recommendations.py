"""Recommendations end to end: prompts and runs made through the API, the real worker runs
the refresh job, and the lists read back through the API."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx

from tests.problems import assert_problem


def word() -> str:
    """A word no other test uses, so the lists depend on this test's data only."""
    return "zq" + secrets.token_hex(4)


async def publish(client: httpx.AsyncClient, creator: Any, **body: Any) -> dict[str, Any]:
    full = {
        "title": "A prompt",
        "description": "",
        "template": "Do it for {{topic}}.",
        "model": "demo",
        "price_cents": 0,
        "private_mode": False,
        "tags": [],
    }
    full.update(body)
    r = await client.post("/prompts", json=full, headers=creator.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def complete_run(client: httpx.AsyncClient, buyer: Any, prompt_id: str) -> None:
    r = await client.post(
        f"/prompts/{prompt_id}/runs",
        json={"inputs": {"topic": "tea"}, "max_tokens": 5},
        headers={**buyer.headers, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    for _ in range(600):
        run = (await client.get(f"/runs/{run_id}", headers=buyer.headers)).json()
        if run["status"] in ("completed", "failed", "canceled"):
            break
        await asyncio.sleep(0.05)
    assert run["status"] == "completed", run


async def refresh(worker: Any) -> dict[str, int]:
    """Run the cron job once through the real worker (a high limit: every stale list)."""
    from arq.connections import ArqRedis

    from hub.platform.redis import get_redis

    job = await ArqRedis(pool_or_conn=get_redis().connection_pool).enqueue_job(
        "refresh_recommendations", 100_000
    )
    assert job is not None
    return await job.result(timeout=120)


async def test_more_like_this_blends_tags_text_and_co_runs(client, register, worker):
    tag, text, other = word(), word(), word()
    creator = await register()
    source = await publish(
        client,
        creator,
        title=f"{word()} {text}",
        tags=[tag, "letters"],
        description=text,
    )
    same_tags = await publish(client, creator, title=word(), tags=[tag, "letters"])
    one_tag = await publish(client, creator, title=word(), tags=[tag, "misc"])
    same_words = await publish(client, creator, title=f"{word()} {text}", tags=[word()])
    unrelated = await publish(client, creator, title=f"{word()} {other}", tags=[word()])
    co_run = await publish(client, creator, title=word(), tags=[word()])
    buyers = [await register(), await register()]
    for buyer in buyers:
        await complete_run(client, buyer, source["id"])
        await complete_run(client, buyer, co_run["id"])

    done = await refresh(worker)
    assert done["prompts"] >= 6

    r = await client.get(f"/prompts/{source['id']}/similar", params={"limit": 24})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    by_id = {i["prompt"]["id"]: i for i in items}
    assert by_id[same_tags["id"]]["reason"] == "tags"
    assert by_id[same_words["id"]]["reason"] == "text"
    assert by_id[co_run["id"]]["reason"] == "co_runs"
    assert one_tag["id"] in by_id
    assert unrelated["id"] not in by_id and source["id"] not in by_id
    # Best first: two shared tags beat one.
    ids = [i["prompt"]["id"] for i in items]
    assert ids.index(same_tags["id"]) < ids.index(one_tag["id"])
    assert all("template" not in i["prompt"] for i in items)

    # An archived prompt leaves the list at once (before the next refresh), and its own
    # list is 404 to everyone but its creator.
    assert (
        await client.delete(f"/prompts/{same_tags['id']}", headers=creator.headers)
    ).status_code == 204
    r = await client.get(f"/prompts/{source['id']}/similar", params={"limit": 24})
    assert same_tags["id"] not in {i["prompt"]["id"] for i in r.json()["items"]}
    assert_problem(await client.get(f"/prompts/{same_tags['id']}/similar"), 404)
    mine = await client.get(f"/prompts/{same_tags['id']}/similar", headers=creator.headers)
    assert mine.status_code == 200
    assert (await client.get(f"/prompts/{source['id']}/similar?limit=25")).status_code == 400


async def test_for_you_from_follows_and_runs(client, register, worker):
    tag = word()
    followed, stranger, me = await register(), await register(), await register()
    new_user = await register()
    f1 = await publish(client, followed, title=f"Followed one {word()}", tags=[word()])
    f2 = await publish(client, followed, title=f"Followed two {word()}", tags=[word()])
    ran = await publish(client, stranger, title=f"Ran this {word()}", tags=[tag, "x1"])
    like_ran = await publish(client, stranger, title=f"Like it {word()}", tags=[tag, "x1"])
    my_own = await publish(client, me, title=f"Mine {word()}", tags=[tag, "x1"])

    # Before any list exists: this week's popular prompts, never my own.
    fallback = (await client.get("/me/recommendations", headers=new_user.headers)).json()
    assert fallback["computed_at"] is None
    assert all(i["reason"] == "popular" for i in fallback["items"])
    assert all(i["prompt"]["owner"]["id"] != new_user.id for i in fallback["items"])

    r = await client.post(f"/creators/{followed.handle}/follow", headers=me.headers)
    assert r.status_code == 200
    await complete_run(client, me, ran["id"])
    await refresh(worker)

    page = (await client.get("/me/recommendations?limit=24", headers=me.headers)).json()
    assert page["computed_at"] is not None
    by_id = {i["prompt"]["id"]: i for i in page["items"]}
    assert by_id[f1["id"]]["reason"] == "follows"
    assert by_id[f2["id"]]["because"] == {
        "type": "user",
        "id": followed.id,
        "handle": followed.handle,
    }
    assert by_id[like_ran["id"]]["reason"] == "runs"
    assert by_id[like_ran["id"]]["because"]["title"] == ran["title"]
    assert ran["id"] not in by_id, "a prompt I already ran is not recommended"
    assert my_own["id"] not in by_id, "my own prompt is not recommended"

    # Following someone new makes the list stale: the next turn picks it up.
    newer = await register()
    n1 = await publish(client, newer, title=f"Newer {word()}", tags=[word()])
    await client.post(f"/creators/{newer.handle}/follow", headers=me.headers)
    await refresh(worker)
    page = (await client.get("/me/recommendations?limit=24", headers=me.headers)).json()
    assert n1["id"] in {i["prompt"]["id"] for i in page["items"]}

    assert (await client.get("/me/recommendations")).status_code == 401


async def test_refresh_twice_at_once_keeps_one_list(client, register, worker):
    from hub.recommendations import compute

    tag = word()
    creator = await register()
    a = await publish(client, creator, title=f"{word()} {word()}", tags=[tag])
    b = await publish(client, creator, title=f"{word()} {word()}", tags=[tag])
    import uuid

    counts = await asyncio.gather(*(compute.refresh_prompt(uuid.UUID(a["id"])) for _ in range(5)))
    assert set(counts) == {1}
    items = (await client.get(f"/prompts/{a['id']}/similar")).json()["items"]
    assert [i["prompt"]["id"] for i in items] == [b["id"]]
