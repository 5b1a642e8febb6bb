"""The marketplace's part of GDPR export and erasure."""

from __future__ import annotations

from tests.prompts.helpers import assert_problem, create_prompt


async def test_export_holds_own_marketplace_data(client, register, grant_completed_run):
    creator, fan = await register(), await register()
    p = await create_prompt(client, creator, private_mode=True)
    await client.post(f"/creators/{creator.handle}/follow", headers=fan.headers)
    await grant_completed_run(fan.id, p["id"])
    await client.post(
        f"/prompts/{p['id']}/reviews", headers=fan.headers, json={"rating": 3, "body": "ok"}
    )
    mine = (await client.get("/me/export", headers=creator.headers)).json()["marketplace"]
    assert [x["title"] for x in mine["prompts"]] == [p["title"]]
    assert mine["prompts"][0]["template"] == p["template"]
    assert [v["version"] for v in mine["prompt_versions"]] == [1]
    assert mine["follower_count"] == 1
    assert {n["kind"] for n in mine["notifications"]} == {
        "follower.new",
        "review.new",
        "sale.earned",
    }
    theirs = (await client.get("/me/export", headers=fan.headers)).json()["marketplace"]
    assert theirs["prompts"] == [] and [r["body"] for r in theirs["reviews_written"]] == ["ok"]
    assert [f["handle"] for f in theirs["following"]] == [creator.handle]


async def test_erasure_archives_prompts_and_fixes_counts(client, register, grant_completed_run):
    creator, leaver, other = await register(), await register(), await register()
    p = await create_prompt(client, creator)
    own = await create_prompt(client, leaver)
    await client.post(f"/creators/{creator.handle}/follow", headers=leaver.headers)
    await client.post(f"/creators/{leaver.handle}/follow", headers=other.headers)
    await grant_completed_run(leaver.id, p["id"])
    await client.post(
        f"/prompts/{p['id']}/reviews", headers=leaver.headers, json={"rating": 5, "body": "me"}
    )
    assert (await client.delete("/me", headers=leaver.headers)).status_code == 204

    assert_problem(await client.get(f"/prompts/{own['id']}"), 404)
    profile = (await client.get(f"/creators/{creator.handle}")).json()
    assert profile["follower_count"] == 0
    assert (await client.get(f"/creators/{other.handle}")).json()["following_count"] == 0
    assert (await client.get("/me/following", headers=other.headers)).json()["items"] == []
    prompt = (await client.get(f"/prompts/{p['id']}")).json()
    assert prompt["rating_count"] == 1  # the rating stays, anonymised
    [review] = (await client.get(f"/prompts/{p['id']}/reviews")).json()["items"]
    assert review["body"] == "" and review["author"]["handle"] != leaver.handle
