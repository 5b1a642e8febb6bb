"""Prompts: create, read, edit with versions, archive, samples, and their permissions."""

from __future__ import annotations

import pytest

from tests.prompts.helpers import assert_problem, create_prompt, prompt_body


async def test_create_derives_variables_and_returns_template_to_owner(client, register):
    owner = await register()
    p = await create_prompt(client, owner, tags=["Poetry", "poetry", "Haiku"])
    assert p["variables"] == ["topic", "poet"]
    assert p["template"].startswith("Write a haiku")
    assert p["owner"]["handle"] == owner.handle
    assert p["tags"] == ["poetry", "haiku"]
    assert p["version"] == 1 and p["status"] == "active"
    assert p["rating_avg"] == 0 and p["rating_count"] == 0 and p["run_count"] == 0
    assert p["live_runs"] == 0 and p["price_cents"] == 25

    anon = await client.get(f"/prompts/{p['id']}")
    assert anon.status_code == 200
    assert anon.json()["template"] == p["template"]  # public prompt: template is visible


async def test_private_prompt_hides_template_from_everyone_but_owner(client, register):
    owner, other = await register(), await register()
    p = await create_prompt(client, owner, private_mode=True)
    for headers in ({}, other.headers):
        r = await client.get(f"/prompts/{p['id']}", headers=headers)
        assert r.status_code == 200
        assert "template" not in r.json()
        assert r.json()["variables"] == ["topic", "poet"]  # buyers need the inputs
    r = await client.get(f"/prompts/{p['id']}", headers=owner.headers)
    assert r.json()["template"] == p["template"]


async def test_create_requires_auth(client):
    assert_problem(await client.post("/prompts", json=prompt_body()), 401)


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"title": "ab"}, 400, "title"),
        ({"title": "   \t "}, 422, "title"),
        ({"title": "x" * 121}, 400, "title"),
        ({"description": "d" * 5001}, 400, "description"),
        ({"template": ""}, 400, "template"),
        ({"template": "t" * 20001}, 400, "template"),
        ({"template": "Hello {{ not valid }}"}, 422, "template"),
        ({"template": "nul \x00 byte"}, 400, "template"),
        ({"price_cents": -1}, 400, "price_cents"),
        ({"price_cents": 100001}, 400, "price_cents"),
        ({"model": "no-such-model"}, 422, "model"),
        ({"tags": [f"t{i}" for i in range(11)]}, 400, "tags"),
        ({"tags": ["x" * 31]}, 400, "tags"),
        ({"tags": ["<script>"]}, 400, "tags"),
        ({"sample_inputs": {"nope": "x"}}, 422, "sample_inputs"),
        ({"sample_inputs": {"topic": "x" * 2001}}, 400, "sample_inputs"),
        ({"owner_id": "00000000-0000-0000-0000-000000000000"}, 400, "owner_id"),
    ],
)
async def test_bad_input_names_the_field(client, register, overrides, status, field):
    owner = await register()
    r = await client.post("/prompts", json=prompt_body(**overrides), headers=owner.headers)
    assert_problem(r, status, field)


async def test_html_is_kept_as_text(client, register):
    owner = await register()
    p = await create_prompt(client, owner, title="<b>Bold</b> & co", description="<img src=x>")
    r = await client.get(f"/prompts/{p['id']}")
    assert r.json()["title"] == "<b>Bold</b> & co"
    assert r.json()["description"] == "<img src=x>"
    assert r.headers["content-type"].startswith("application/json")


async def test_unknown_and_malformed_ids_are_404(client, register):
    assert_problem(await client.get("/prompts/00000000-0000-0000-0000-000000000000"), 404)
    r = await client.get("/prompts/not-a-uuid")
    assert r.status_code == 404


async def test_template_change_creates_version_and_old_versions_stay_readable(client, register):
    owner, other = await register(), await register()
    p = await create_prompt(client, owner)
    r = await client.patch(
        f"/prompts/{p['id']}",
        headers=owner.headers,
        json={"template": "Summarise {{text}} for {{audience}}", "price_cents": 40},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 2 and body["variables"] == ["text", "audience"]
    assert body["price_cents"] == 40
    assert body["sample_inputs"] == {}  # `topic` is no longer a variable
    # same template again: no new version
    r = await client.patch(
        f"/prompts/{p['id']}", headers=owner.headers, json={"template": body["template"]}
    )
    assert r.json()["version"] == 2
    r = await client.get(f"/prompts/{p['id']}/versions", headers=owner.headers)
    assert r.status_code == 200
    versions = r.json()["items"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["current"] and not versions[1]["current"]
    assert versions[1]["template"] == p["template"]
    assert versions[1]["variables"] == ["topic", "poet"]
    page1 = await client.get(f"/prompts/{p['id']}/versions?limit=1", headers=owner.headers)
    cursor = page1.json()["next_cursor"]
    page2 = await client.get(
        f"/prompts/{p['id']}/versions", params={"limit": 1, "cursor": cursor}, headers=owner.headers
    )
    assert [v["version"] for v in page2.json()["items"]] == [1]
    assert page2.json()["next_cursor"] is None
    # versions are the owner's only
    assert_problem(await client.get(f"/prompts/{p['id']}/versions", headers=other.headers), 403)
    assert_problem(await client.get(f"/prompts/{p['id']}/versions"), 401)


async def test_only_owner_edits_and_archives(client, register):
    owner, other = await register(), await register()
    p = await create_prompt(client, owner)
    assert_problem(
        await client.patch(
            f"/prompts/{p['id']}", headers=other.headers, json={"title": "Mine now"}
        ),
        403,
    )
    assert_problem(await client.delete(f"/prompts/{p['id']}", headers=other.headers), 403)
    assert_problem(
        await client.patch(f"/prompts/{p['id']}", headers=owner.headers, json={"bogus": 1}),
        400,
        "bogus",
    )
    assert_problem(
        await client.patch(f"/prompts/{p['id']}", headers=owner.headers, json={"model": "zzz"}),
        422,
        "model",
    )
    r = await client.delete(f"/prompts/{p['id']}", headers=owner.headers)
    assert r.status_code == 204
    assert (await client.delete(f"/prompts/{p['id']}", headers=owner.headers)).status_code == 204
    # archived: 404 for others (as if it never existed), still there for the owner
    assert_problem(await client.get(f"/prompts/{p['id']}", headers=other.headers), 404)
    assert_problem(await client.get(f"/prompts/{p['id']}"), 404)
    assert_problem(
        await client.patch(f"/prompts/{p['id']}", headers=other.headers, json={"title": "xyz"}),
        404,
    )
    r = await client.get(f"/prompts/{p['id']}", headers=owner.headers)
    assert r.status_code == 200 and r.json()["status"] == "archived"
    mine = await client.get("/me/prompts", headers=owner.headers)
    assert p["id"] in [i["id"] for i in mine.json()["items"]]
    r = await client.patch(f"/prompts/{p['id']}", headers=owner.headers, json={"status": "active"})
    assert r.json()["status"] == "active"
    assert (await client.get(f"/prompts/{p['id']}")).status_code == 200


async def test_samples_plain_text_by_owner(client, register):
    owner, other = await register(), await register()
    p = await create_prompt(client, owner, private_mode=True)
    r = await client.post(
        f"/prompts/{p['id']}/samples",
        headers=owner.headers,
        json={"title": "Autumn", "inputs": {"topic": "autumn"}, "output": "Leaves fall <b>"},
    )
    assert r.status_code == 201, r.text
    sample = r.json()
    assert sample["output"] == "Leaves fall <b>" and sample["run_id"] is None
    r = await client.get(f"/prompts/{p['id']}/samples")
    assert r.status_code == 200
    assert [s["id"] for s in r.json()["items"]] == [sample["id"]]
    assert_problem(
        await client.post(
            f"/prompts/{p['id']}/samples", headers=other.headers, json={"output": "hi"}
        ),
        403,
    )
    assert_problem(
        await client.post(f"/prompts/{p['id']}/samples", headers=owner.headers, json={}),
        422,
        "output",
    )
    assert_problem(
        await client.post(
            f"/prompts/{p['id']}/samples",
            headers=owner.headers,
            json={"output": "x", "inputs": {"nope": "1"}},
        ),
        422,
        "inputs",
    )
    assert_problem(
        await client.post(
            f"/prompts/{p['id']}/samples", headers=owner.headers, json={"output": "x" * 20001}
        ),
        400,
        "output",
    )
    assert_problem(
        await client.delete(f"/prompts/{p['id']}/samples/{sample['id']}", headers=other.headers),
        403,
    )
    r = await client.delete(f"/prompts/{p['id']}/samples/{sample['id']}", headers=owner.headers)
    assert r.status_code == 204
    assert (await client.get(f"/prompts/{p['id']}/samples")).json()["items"] == []


async def test_prompt_for_run_contract(client, register):
    from hub.prompts.service import get_prompt_for_run
    from hub.prompts.templating import render_template

    owner = await register()
    p = await create_prompt(client, owner, private_mode=True, price_cents=7)
    run = await get_prompt_for_run(p["id"])
    assert run is not None
    assert (run.owner_id, run.version, run.price_cents, run.private_mode, run.status) == (
        owner.id,
        1,
        7,
        True,
        "active",
    )
    assert run.variables == ["topic", "poet"]
    assert render_template(run.template, {"topic": "rain", "poet": "Basho"}) == (
        "Write a haiku about rain in the style of Basho."
    )
    await client.patch(f"/prompts/{p['id']}", headers=owner.headers, json={"template": "Hi {{x}}"})
    run2 = await get_prompt_for_run(p["id"])
    assert run2 is not None and run2.version == 2 and run2.version_id != run.version_id
    await client.delete(f"/prompts/{p['id']}", headers=owner.headers)
    run3 = await get_prompt_for_run(p["id"])
    assert run3 is not None and run3.status == "archived"


async def test_prompt_creation_is_rate_limited(client, register, monkeypatch):
    from hub.prompts import service

    monkeypatch.setattr(service, "MAX_PROMPTS_PER_HOUR", 2)
    owner = await register()
    await create_prompt(client, owner)
    await create_prompt(client, owner)
    r = await client.post("/prompts", json=prompt_body(), headers=owner.headers)
    body = assert_problem(r, 429)
    assert int(r.headers["retry-after"]) > 0 and "per hour" in body["detail"]


async def test_sample_from_run_id_is_guarded(client, register):
    owner = await register()
    p = await create_prompt(client, owner)
    url = f"/prompts/{p['id']}/samples"
    r = await client.post(
        url, headers=owner.headers, json={"run_id": "00000000-0000-0000-0000-000000000000"}
    )
    assert_problem(r, 404)  # not one of the owner's runs
    assert_problem(
        await client.post(url, headers=owner.headers, json={"run_id": "x", "output": "y"}),
        422,
        "output",
    )


async def test_sample_from_the_owners_own_completed_run(client, register, grant_completed_run):
    owner, buyer = await register(), await register()
    p = await create_prompt(client, owner)
    run = await grant_completed_run(owner.id, p["id"])
    r = await client.post(
        f"/prompts/{p['id']}/samples", headers=owner.headers, json={"run_id": run["id"]}
    )
    assert r.status_code == 201, r.text
    assert r.json()["output"] == run["output"] and r.json()["run_id"] == run["id"]
    listed = (await client.get(f"/prompts/{p['id']}/samples")).json()["items"]
    assert [s["run_id"] for s in listed] == [run["id"]]
    # A buyer's run is not the owner's to publish.
    theirs = await grant_completed_run(buyer.id, p["id"])
    r = await client.post(
        f"/prompts/{p['id']}/samples", headers=owner.headers, json={"run_id": theirs["id"]}
    )
    assert_problem(r, 404)


async def test_sample_runs_lists_the_owners_unused_completed_runs(
    client, register, grant_completed_run
):
    """What a creator can pick as a sample: their own completed runs of the prompt, newest
    first, minus the ones already used; never a buyer's run; the owner's only."""
    owner, buyer = await register(), await register()
    p = await create_prompt(client, owner)
    url = f"/prompts/{p['id']}/sample-runs"
    assert (await client.get(url, headers=owner.headers)).json() == {"items": []}
    first = await grant_completed_run(owner.id, p["id"])
    second = await grant_completed_run(owner.id, p["id"])
    await grant_completed_run(buyer.id, p["id"])
    r = await client.get(url, headers=owner.headers)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["run_id"] for i in items] == [second["id"], first["id"]]
    assert items[0]["inputs"] == {"topic": "test", "poet": "test"}
    assert items[0]["excerpt"] and len(items[0]["excerpt"]) <= 160
    assert items[0]["excerpt"].rstrip("…") in " ".join(second["output"].split())
    assert items[0]["leak_guard_redactions"] == 0
    r = await client.post(
        f"/prompts/{p['id']}/samples", headers=owner.headers, json={"run_id": first["id"]}
    )
    assert r.status_code == 201, r.text
    items = (await client.get(url, headers=owner.headers)).json()["items"]
    assert [i["run_id"] for i in items] == [second["id"]]
    assert (await client.get(f"{url}?limit=1", headers=owner.headers)).json()["items"][0][
        "run_id"
    ] == second["id"]
    assert_problem(await client.get(url, headers=buyer.headers), 403)
    assert_problem(await client.get(url), 401)
    assert_problem(await client.get(url + "?limit=0", headers=owner.headers), 400)
    await client.delete(f"/prompts/{p['id']}", headers=owner.headers)
    assert_problem(await client.get(url, headers=buyer.headers), 404)  # archived: not theirs
    assert (await client.get(url, headers=owner.headers)).status_code == 200
