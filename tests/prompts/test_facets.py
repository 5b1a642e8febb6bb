"""Search facets: counts by tag, model and price band, each ignoring its own filter."""

from __future__ import annotations

from tests.conftest import unique
from tests.prompts.helpers import assert_problem, create_prompt


async def test_facets_count_matches_and_ignore_their_own_filter(client, register):
    creator = await register()
    word = unique("facet")
    await create_prompt(client, creator, title=f"{word} one", tags=["alpha", "beta"], price_cents=0)
    await create_prompt(client, creator, title=f"{word} two", tags=["alpha"], price_cents=30)
    await create_prompt(client, creator, title=f"{word} three", tags=["gamma"], price_cents=90)
    r = await client.get("/prompts/facets", params={"q": word})
    assert r.status_code == 200, r.text
    f = r.json()
    assert {t["value"]: t["count"] for t in f["tags"]} == {"alpha": 2, "beta": 1, "gamma": 1}
    assert f["tags"][0] == {"value": "alpha", "count": 2}
    assert f["models"] == [{"value": "demo", "count": 3}]
    assert {p["value"]: p["count"] for p in f["prices"]} == {"free": 1, "up_to_50": 1, "over_50": 1}
    # With a tag chosen, the other facets narrow, the tag facet still offers the others.
    f = (await client.get("/prompts/facets", params={"q": word, "tag": "alpha"})).json()
    assert {t["value"]: t["count"] for t in f["tags"]} == {"alpha": 2, "beta": 1, "gamma": 1}
    assert {p["value"]: p["count"] for p in f["prices"]} == {"free": 1, "up_to_50": 1, "over_50": 0}
    f = (await client.get("/prompts/facets", params={"q": word, "max_price": 0})).json()
    assert {t["value"]: t["count"] for t in f["tags"]} == {"alpha": 1, "beta": 1}
    assert {p["value"]: p["count"] for p in f["prices"]}["over_50"] == 1
    assert_problem(
        await client.get("/prompts/facets", params={"min_price": 9, "max_price": 1}),
        422,
        "min_price",
    )
    assert_problem(await client.get("/prompts/facets", params={"tag": "bad tag!"}), 400, "tag")
