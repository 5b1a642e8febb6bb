"""What the creator dashboard reads: sales with prompt and buyer, totals per prompt and day."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.prompts.helpers import assert_problem, create_prompt


async def test_sales_name_the_prompt_and_buyer_and_add_up_per_prompt_and_day(
    client, register, grant_completed_run
):
    creator, ann, ben = await register(), await register(), await register()
    haiku = await create_prompt(client, creator, title="Haiku", price_cents=25)
    email = await create_prompt(client, creator, title="Cold email", price_cents=50)
    await grant_completed_run(ann.id, haiku["id"])
    await grant_completed_run(ben.id, haiku["id"])
    await grant_completed_run(ben.id, email["id"])
    sales = (await client.get("/creator/sales", headers=creator.headers)).json()["items"]
    assert [(s["prompt_title"], s["buyer_handle"]) for s in sales] == [
        ("Cold email", ben.handle),
        ("Haiku", ben.handle),
        ("Haiku", ann.handle),
    ]
    totals = (await client.get("/creator/sales/totals", headers=creator.headers)).json()
    assert totals["days"] == 30 and len(totals["per_day"]) == 30
    # Best first: equal earnings, so more sales first.
    assert totals["per_prompt"] == [
        {
            "prompt_id": haiku["id"],
            "title": "Haiku",
            "count": 2,
            "gross_cents": 50,
            "earning_cents": 40,
        },
        {
            "prompt_id": email["id"],
            "title": "Cold email",
            "count": 1,
            "gross_cents": 50,
            "earning_cents": 40,
        },
    ]
    today = datetime.now(UTC).date().isoformat()
    assert totals["per_day"][-1] == {
        "day": today,
        "count": 3,
        "gross_cents": 100,
        "earning_cents": 80,
    }
    assert all(d["count"] == 0 for d in totals["per_day"][:-1])
    earnings = (await client.get("/creator/earnings", headers=creator.headers)).json()
    assert earnings["lifetime_cents"] == sum(d["earning_cents"] for d in totals["per_day"])
    week = (await client.get("/creator/sales/totals?days=7", headers=creator.headers)).json()
    assert len(week["per_day"]) == 7
    # A buyer who erased their account is no longer named.
    assert (await client.delete("/me", headers=ann.headers)).status_code == 204
    sales = (await client.get("/creator/sales", headers=creator.headers)).json()["items"]
    assert [s["buyer_handle"] for s in sales] == [ben.handle, ben.handle, None]
    # Nobody else's sales, and bad input is a 400 naming the field.
    other = await client.get("/creator/sales/totals", headers=ann.headers)
    assert other.status_code == 401
    stranger = await register()
    empty = (await client.get("/creator/sales/totals", headers=stranger.headers)).json()
    assert empty["per_prompt"] == [] and sum(d["count"] for d in empty["per_day"]) == 0
    assert_problem(
        await client.get("/creator/sales/totals?days=0", headers=creator.headers), 400, "days"
    )
    assert_problem(
        await client.get("/creator/sales/totals?days=367", headers=creator.headers), 400, "days"
    )
