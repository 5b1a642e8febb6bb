"""Reviews: the completed-run rule, one per user and editable, aggregates, creator replies."""

from __future__ import annotations

import asyncio

from hub.prompts.rules import has_completed_run
from tests.prompts.helpers import assert_problem, create_prompt


async def test_review_requires_a_completed_run(client, register):
    owner, buyer = await register(), await register()
    p = await create_prompt(client, owner)
    assert not await has_completed_run(buyer.id, p["id"])
    r = await client.post(
        f"/prompts/{p['id']}/reviews", headers=buyer.headers, json={"rating": 5, "body": "x"}
    )
    body = assert_problem(r, 403)
    assert "run" in body["detail"]
    assert_problem(await client.post(f"/prompts/{p['id']}/reviews", json={"rating": 5}), 401)


async def test_review_create_edit_aggregates_and_reply(client, register, grant_completed_run):
    owner, a, b, stranger = await register(), await register(), await register(), await register()
    p = await create_prompt(client, owner)
    for user in (a, b):
        await grant_completed_run(user.id, p["id"])

    r = await client.post(
        f"/prompts/{p['id']}/reviews", headers=a.headers, json={"rating": 5, "body": "Great <b>"}
    )
    assert r.status_code == 201, r.text
    review_a = r.json()
    assert review_a["author"]["handle"] == a.handle and review_a["body"] == "Great <b>"
    r = await client.post(f"/prompts/{p['id']}/reviews", headers=b.headers, json={"rating": 2})
    assert r.status_code == 201
    prompt = (await client.get(f"/prompts/{p['id']}")).json()
    assert prompt["rating_count"] == 2 and prompt["rating_avg"] == 3.5

    # editing: same review, aggregates follow
    r = await client.post(
        f"/prompts/{p['id']}/reviews", headers=a.headers, json={"rating": 4, "body": "Good"}
    )
    assert r.status_code == 200 and r.json()["id"] == review_a["id"]
    prompt = (await client.get(f"/prompts/{p['id']}")).json()
    assert prompt["rating_count"] == 2 and prompt["rating_avg"] == 3.0

    page = (await client.get(f"/prompts/{p['id']}/reviews")).json()
    assert [x["author"]["handle"] for x in page["items"]] == [b.handle, a.handle]
    page1 = (await client.get(f"/prompts/{p['id']}/reviews", params={"limit": 1})).json()
    page2 = (
        await client.get(
            f"/prompts/{p['id']}/reviews", params={"limit": 1, "cursor": page1["next_cursor"]}
        )
    ).json()
    assert [x["id"] for x in page1["items"] + page2["items"]] == [x["id"] for x in page["items"]]

    # creator replies once; nobody else may
    url = f"/prompts/{p['id']}/reviews/{review_a['id']}/reply"
    assert_problem(await client.post(url, headers=stranger.headers, json={"body": "hi"}), 403)
    assert_problem(await client.post(url, headers=a.headers, json={"body": "hi"}), 403)
    assert_problem(await client.post(url, headers=owner.headers, json={"body": ""}), 400, "body")
    assert_problem(await client.post(url, headers=owner.headers, json={"body": "  "}), 422, "body")
    r = await client.post(url, headers=owner.headers, json={"body": "Thanks!"})
    assert r.status_code == 200 and r.json()["reply"] == "Thanks!" and r.json()["replied_at"]
    assert_problem(await client.post(url, headers=owner.headers, json={"body": "again"}), 409)
    missing = f"/prompts/{p['id']}/reviews/00000000-0000-0000-0000-000000000000/reply"
    assert_problem(await client.post(missing, headers=owner.headers, json={"body": "x"}), 404)


async def test_review_bad_input_and_owner_cannot_review(client, register, grant_completed_run):
    owner, buyer = await register(), await register()
    p = await create_prompt(client, owner)
    await grant_completed_run(buyer.id, p["id"])
    await grant_completed_run(owner.id, p["id"])
    url = f"/prompts/{p['id']}/reviews"
    for bad, field in (
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": 3, "body": "x" * 5001}, "body"),
        ({"body": "no rating"}, "rating"),
        ({"rating": 3, "stars": 3}, "stars"),
    ):
        assert_problem(await client.post(url, headers=buyer.headers, json=bad), 400, field)
    assert_problem(await client.post(url, headers=owner.headers, json={"rating": 5}), 403)
    assert_problem(
        await client.post(
            "/prompts/00000000-0000-0000-0000-000000000000/reviews",
            headers=buyer.headers,
            json={"rating": 5},
        ),
        404,
    )


async def test_concurrent_reviews_keep_aggregates_exact(client, register, grant_completed_run):
    owner = await register()
    p = await create_prompt(client, owner)
    buyers = await asyncio.gather(*(register() for _ in range(8)))
    for buyer in buyers:
        await grant_completed_run(buyer.id, p["id"])
    ratings = [1, 2, 3, 4, 5, 5, 4, 3]
    results = await asyncio.gather(
        *(
            client.post(f"/prompts/{p['id']}/reviews", headers=b.headers, json={"rating": r})
            for b, r in zip(buyers, ratings, strict=True)
        )
    )
    assert all(r.status_code == 201 for r in results)
    prompt = (await client.get(f"/prompts/{p['id']}")).json()
    assert prompt["rating_count"] == 8
    assert prompt["rating_avg"] == round(sum(ratings) / 8, 3)


async def test_reviews_of_archived_prompt_hidden_from_others(client, register):
    owner, other = await register(), await register()
    p = await create_prompt(client, owner)
    await client.delete(f"/prompts/{p['id']}", headers=owner.headers)
    assert_problem(await client.get(f"/prompts/{p['id']}/reviews", headers=other.headers), 404)
    assert (
        await client.get(f"/prompts/{p['id']}/reviews", headers=owner.headers)
    ).status_code == 200
