"""Listing and search: full-text search, filters, sorts and keyset pagination (on seeded data).

The database is shared by the whole session, so each test scopes its queries by a unique
word, tag or creator of its own.
"""

from __future__ import annotations

import secrets
import uuid

import pytest

from hub.platform.db import fetch
from hub.prompts.popularity import refresh_runs_7d
from tests.conftest import unique
from tests.prompts.helpers import assert_problem, create_prompt


def alpha_word() -> str:
    """A unique word of letters only, ending in k (so "<word>s" stems to "<word>")."""
    return "zebra" + "".join(chr(ord("a") + b % 26) for b in secrets.token_bytes(8)) + "k"


def ids(r) -> list[str]:
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()["items"]]


async def test_full_text_search_over_title_description_and_tags(client, register):
    owner = await register()
    word = alpha_word()
    in_title = await create_prompt(client, owner, title=f"Poems with {word}", description="x")
    in_desc = await create_prompt(client, owner, title="Other one", description=f"About {word}s")
    in_tag = await create_prompt(client, owner, title="Tagged", tags=[word])
    in_template = await create_prompt(client, owner, template=f"Secret {word} {{{{topic}}}}")
    archived = await create_prompt(client, owner, title=f"Gone {word}")
    await client.delete(f"/prompts/{archived['id']}", headers=owner.headers)

    found = ids(await client.get("/prompts", params={"q": word}))
    assert set(found) == {in_title["id"], in_desc["id"], in_tag["id"]}
    assert in_template["id"] not in found  # templates are not searchable
    assert found[0] == in_title["id"]  # relevance: title outweighs tags and description
    # web-search syntax
    assert in_tag["id"] not in ids(await client.get("/prompts", params={"q": f"{word} -tagged"}))
    other = alpha_word()
    also = await create_prompt(client, owner, title=f"Also {other}")
    either = ids(await client.get("/prompts", params={"q": f"{other} or {word}"}))
    assert set(either) == {in_title["id"], in_desc["id"], in_tag["id"], also["id"]}
    # stemming: plural in the description matches the singular query
    assert in_desc["id"] in found
    # garbage queries are just empty, not errors
    assert ids(await client.get("/prompts", params={"q": '"&|!:*() <-> \\'})) == []


async def test_filters_tag_creator_model_price(client, register):
    a, b = await register(), await register()
    tag = unique("tag")
    cheap = await create_prompt(client, a, tags=[tag], price_cents=0)
    mid = await create_prompt(client, a, tags=[tag, "other"], price_cents=50)
    dear = await create_prompt(client, b, tags=[tag], price_cents=500)

    assert ids(await client.get("/prompts", params={"tag": tag})) == [
        dear["id"],
        mid["id"],
        cheap["id"],
    ]
    assert ids(await client.get("/prompts", params={"tag": tag.upper()}))[0] == dear["id"]
    assert ids(await client.get("/prompts", params={"tag": tag, "creator": a.handle})) == [
        mid["id"],
        cheap["id"],
    ]
    assert ids(await client.get("/prompts", params={"tag": tag, "model": "demo"})) == [
        dear["id"],
        mid["id"],
        cheap["id"],
    ]
    assert ids(await client.get("/prompts", params={"tag": tag, "model": "nope"})) == []
    assert ids(
        await client.get("/prompts", params={"tag": tag, "min_price": 1, "max_price": 100})
    ) == [mid["id"]]
    assert ids(await client.get("/prompts", params={"tag": tag, "max_price": 0})) == [cheap["id"]]
    assert ids(await client.get("/prompts", params={"creator": "nobody_at_all_x"})) == []


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"limit": 0}, 400, "limit"),
        ({"limit": 101}, 400, "limit"),
        ({"limit": "many"}, 400, "limit"),
        ({"sort": "random"}, 400, "sort"),
        ({"sort": "relevance"}, 422, "sort"),
        ({"min_price": -1}, 400, "min_price"),
        ({"min_price": 10, "max_price": 5}, 422, "min_price"),
        ({"q": "x" * 201}, 400, "q"),
        ({"tag": "bad tag!"}, 400, "tag"),
        ({"creator": "x" * 31}, 400, "creator"),
        ({"cursor": "not-a-cursor"}, 400, "cursor"),
        ({"cursor": "W10"}, 400, "cursor"),
        (
            {
                "sort": "popular",
                "cursor": "WyJwb3B1bGFyIiwxMDk5NTExNjI3Nzc2LCIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAiXQ",
            },
            400,
            "cursor",
        ),
    ],
)
async def test_bad_list_parameters_name_the_field(client, params, status, field):
    assert_problem(await client.get("/prompts", params=params), status, field)


async def test_cursor_of_another_sort_is_refused(client, register):
    owner = await register()
    for _ in range(2):
        await create_prompt(client, owner)
    r = await client.get("/prompts", params={"creator": owner.handle, "limit": 1})
    cursor = r.json()["next_cursor"]
    assert cursor
    assert_problem(
        await client.get("/prompts", params={"sort": "top_rated", "cursor": cursor}), 400, "cursor"
    )


async def test_new_pagination_is_stable_under_inserts(client, register):
    owner = await register()
    made = [(await create_prompt(client, owner, title=f"P{i} title"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"creator": owner.handle, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await client.get("/prompts", params=params)
        seen += ids(r)
        cursor = r.json()["next_cursor"]
        await create_prompt(client, owner, title="Inserted meanwhile")  # lands before the cursor
        if cursor is None:
            break
    assert seen == list(reversed(made))


async def _set_scores(prompt_id: str, *, runs_7d: int = 0, rating_sum: int = 0, count: int = 0):
    await fetch(
        "UPDATE prompts SET runs_7d = $2, rating_sum = $3, rating_count = $4 WHERE id = $1",
        uuid.UUID(prompt_id),
        runs_7d,
        rating_sum,
        count,
    )


async def test_top_rated_uses_bayesian_average(client, register):
    owner = await register()
    tag = unique("rated")
    one_five = await create_prompt(client, owner, tags=[tag])
    many_fours = await create_prompt(client, owner, tags=[tag])
    unrated = await create_prompt(client, owner, tags=[tag])
    few_ones = await create_prompt(client, owner, tags=[tag])
    await _set_scores(one_five["id"], rating_sum=5, count=1)
    await _set_scores(many_fours["id"], rating_sum=4 * 40, count=40)
    await _set_scores(few_ones["id"], rating_sum=3, count=3)
    r = await client.get("/prompts", params={"tag": tag, "sort": "top_rated"})
    assert ids(r) == [many_fours["id"], one_five["id"], unrated["id"], few_ones["id"]]
    assert r.json()["items"][1]["rating_avg"] == 5.0
    # paging through a score tie keeps every item exactly once
    walk, cursor = [], None
    while True:
        params = {"tag": tag, "sort": "top_rated", "limit": 1}
        if cursor:
            params["cursor"] = cursor
        r = await client.get("/prompts", params=params)
        walk += ids(r)
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert walk == [many_fours["id"], one_five["id"], unrated["id"], few_ones["id"]]


async def test_popular_sorts_by_runs_in_last_7_days(client, register):
    owner = await register()
    tag = unique("pop")
    quiet = await create_prompt(client, owner, tags=[tag])
    busy = await create_prompt(client, owner, tags=[tag])
    mid = await create_prompt(client, owner, tags=[tag])
    await _set_scores(busy["id"], runs_7d=30)
    await _set_scores(mid["id"], runs_7d=3)
    r = await client.get("/prompts", params={"tag": tag, "sort": "popular", "limit": 2})
    assert ids(r) == [busy["id"], mid["id"]]
    r = await client.get(
        "/prompts",
        params={"tag": tag, "sort": "popular", "limit": 2, "cursor": r.json()["next_cursor"]},
    )
    assert ids(r) == [quiet["id"]]
    assert await refresh_runs_7d() >= 0  # a no-op until the runs table exists
