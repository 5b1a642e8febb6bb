"""Reports and the moderation queue: REST, the audit log, and the queue live for moderators
over the official centrifuge-python SDK."""

from __future__ import annotations

import asyncio

import pytest
from centrifuge.exceptions import ReplyError

from tests.community.live import live, of_type, subscribe_error, with_role
from tests.conftest import unique
from tests.prompts.helpers import assert_problem, create_prompt, prompt_body
from tests.realtime.sdk_helpers import Recorder, make_client


async def _room_with_message(client, author, text="buy cheap followers at spam.example"):
    slug = unique("mod-")
    r = await client.post("/rooms", headers=author.headers, json={"slug": slug, "title": "M"})
    assert r.status_code == 201, r.text
    r = await client.post(f"/rooms/{slug}/messages", headers=author.headers, json={"text": text})
    assert r.status_code == 201, r.text
    return slug, r.json()


async def _case_of(client, moderator, subject_id, status="open"):
    cursor = None
    while True:
        params = {"status": status, "limit": 100, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/moderation/reports", headers=moderator.headers, params=params)
        assert r.status_code == 200, r.text
        for case in r.json()["items"]:
            if case["subject"]["id"] == subject_id:
                return case
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return None


async def test_repeated_reports_collapse_into_one_queue_entry(client, register, ws_url):
    spammer, a, b = await register(), await register(), await register()
    moderator = await with_role(client, await register(), "moderator")
    slug, msg = await _room_with_message(client, spammer)
    async with live(ws_url, moderator, "moderation:reports") as (_, recs):
        queue = recs["moderation:reports"]
        body = {"subject_type": "message", "subject_id": msg["id"], "reason": "spam link"}
        first = await client.post("/reports", headers=a.headers, json=body)
        assert first.status_code == 201, first.text
        report = first.json()
        assert report["status"] == "open" and report["subject_id"] == msg["id"]
        # The same reporter again: the same report, nothing counted twice.
        again = await client.post(
            "/reports", headers=a.headers, json={**body, "reason": "still spam"}
        )
        assert again.status_code == 200 and again.json()["id"] == report["id"]
        assert again.json()["reason"] == "spam link"
        second = await client.post("/reports", headers=b.headers, json={**body, "reason": "scam"})
        assert second.status_code == 201 and second.json()["case_id"] == report["case_id"]

        # The moderator saw it open, then grow, live.
        await queue.wait_for(lambda: of_type(queue, "report.updated"))
        opened = [
            e for e in of_type(queue, "report.opened") if e["case"]["id"] == report["case_id"]
        ]
        assert opened and opened[0]["case"]["report_count"] == 1
        updated = of_type(queue, "report.updated")[-1]["case"]
        assert updated["report_count"] == 2

    case = await _case_of(client, moderator, msg["id"])
    assert case["id"] == report["case_id"] and case["report_count"] == 2
    assert case["subject"] == {
        "type": "message",
        "id": msg["id"],
        "url": f"/chat/{slug}",
        "preview": msg["text"],
        "author": {"id": spammer.id, "handle": spammer.handle, "display_name": spammer.handle},
        "room": slug,
        "removed": False,
    }
    assert {(r["reporter"]["handle"], r["reason"]) for r in case["reports"]} == {
        (a.handle, "spam link"),
        (b.handle, "scam"),
    }
    # Only moderators (and admins) see the queue.
    assert_problem(await client.get("/moderation/reports", headers=a.headers), 403)
    assert_problem(await client.get("/moderation/reports"), 401)


async def test_concurrent_first_reports_make_one_case(client, register):
    author = await register()
    moderator = await with_role(client, await register(), "moderator")
    reporters = [await register() for _ in range(8)]
    _, msg = await _room_with_message(client, author)
    body = {"subject_type": "message", "subject_id": msg["id"], "reason": "abuse"}
    answers = await asyncio.gather(
        *(client.post("/reports", headers=r.headers, json=body) for r in reporters)
    )
    assert [a.status_code for a in answers] == [201] * 8
    assert len({a.json()["case_id"] for a in answers}) == 1
    case = await _case_of(client, moderator, msg["id"])
    assert case["report_count"] == 8 and len(case["reports"]) == 8


async def test_delete_resolution_removes_the_message_live_and_is_audited(client, register, ws_url):
    author, reporter = await register(), await register()
    moderator = await with_role(client, await register(), "moderator")
    admin = await with_role(client, await register(), "admin")
    slug, msg = await _room_with_message(client, author)
    r = await client.post(
        "/reports",
        headers=reporter.headers,
        json={"subject_type": "message", "subject_id": msg["id"], "reason": "spam"},
    )
    case_id = r.json()["case_id"]
    # Ordinary users cannot resolve.
    assert_problem(
        await client.post(
            f"/moderation/reports/{case_id}/resolve",
            headers=reporter.headers,
            json={"action": "dismiss", "reason": "x"},
        ),
        403,
    )
    async with live(ws_url, reporter, f"rooms:{slug}", f"notifications#{reporter.id}") as (
        _,
        recs,
    ):
        room = recs[f"rooms:{slug}"]
        notes = recs[f"notifications#{reporter.id}"]
        r = await client.post(
            f"/moderation/reports/{case_id}/resolve",
            headers=moderator.headers,
            json={"action": "delete", "reason": "Spam link, rule 3"},
        )
        assert r.status_code == 200, r.text
        case = r.json()
        assert case["status"] == "resolved" and case["subject"]["removed"] is True
        assert case["resolution"]["action"] == "delete"
        assert case["resolution"]["by"]["handle"] == moderator.handle
        await room.wait_for(lambda: of_type(room, "room.message_deleted"))
        assert of_type(room, "room.message_deleted")[0]["id"] == msg["id"]
        # The reporter is told, live.
        await notes.wait_for(lambda: of_type(notes, "notification.created"))
        told = of_type(notes, "notification.created")[0]["notification"]
        assert told["type"] == "report.resolved"
        assert told["text"] == "A moderator reviewed your report about a message: it was removed"
    history = (await client.get(f"/rooms/{slug}/messages")).json()["items"]
    assert msg["id"] not in [m["id"] for m in history]
    # Once only.
    assert_problem(
        await client.post(
            f"/moderation/reports/{case_id}/resolve",
            headers=moderator.headers,
            json={"action": "dismiss", "reason": "again"},
        ),
        409,
    )
    # A new report of the now-deleted message is refused: it is gone.
    assert_problem(
        await client.post(
            "/reports",
            headers=reporter.headers,
            json={"subject_type": "message", "subject_id": msg["id"], "reason": "x"},
        ),
        404,
    )
    assert (await _case_of(client, moderator, msg["id"], "resolved"))["id"] == case_id

    # The audit log: who, what, when, why; admins only.
    assert_problem(await client.get("/admin/audit-log", headers=moderator.headers), 403)
    log = (
        await client.get(
            "/admin/audit-log", headers=admin.headers, params={"action": "report.delete"}
        )
    ).json()["items"]
    entry = next(e for e in log if e["case_id"] == case_id)
    assert entry["actor"]["handle"] == moderator.handle
    assert entry["subject_type"] == "message" and entry["subject_id"] == msg["id"]
    assert entry["target_user"]["handle"] == author.handle
    assert entry["reason"] == "Spam link, rule 3" and entry["created_at"]
    assert entry["details"]["preview"] == msg["text"] and entry["details"]["deleted"] is True


async def test_ban_suspends_the_author_everywhere_for_n_minutes(
    client, register, ws_url, grant_completed_run
):
    creator, troll, reporter = await register(), await register(), await register()
    moderator = await with_role(client, await register(), "moderator")
    prompt = await create_prompt(client, creator)
    await grant_completed_run(troll.id, prompt["id"])
    r = await client.post(
        f"/prompts/{prompt['id']}/reviews",
        headers=troll.headers,
        json={"rating": 1, "body": "insults"},
    )
    review = r.json()
    r = await client.post(
        "/reports",
        headers=reporter.headers,
        json={"subject_type": "review", "subject_id": review["id"], "reason": "abusive"},
    )
    case_id = r.json()["case_id"]
    assert_problem(
        await client.post(
            f"/moderation/reports/{case_id}/resolve",
            headers=moderator.headers,
            json={"action": "ban", "reason": "abuse"},
        ),
        422,
        "minutes",
    )
    r = await client.post(
        f"/moderation/reports/{case_id}/resolve",
        headers=moderator.headers,
        json={"action": "ban", "minutes": 30, "delete": True, "reason": "abuse, 2nd time"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["resolution"]["minutes"] == 30
    # The review is gone and the rating with it.
    p = (await client.get(f"/prompts/{prompt['id']}")).json()
    assert p["rating_count"] == 0
    reviews = (await client.get(f"/prompts/{prompt['id']}/reviews")).json()["items"]
    assert reviews == []
    # The troll can read but not post: REST chat, realtime chat (103), reviews, prompts.
    body = assert_problem(
        await client.post("/rooms/lobby/messages", headers=troll.headers, json={"text": "hi"}),
        403,
    )
    assert "suspended" in body["detail"]
    assert (await client.get("/rooms/lobby/messages")).status_code == 200
    assert_problem(
        await client.post(
            f"/prompts/{prompt['id']}/reviews", headers=troll.headers, json={"rating": 1}
        ),
        403,
    )
    r = await client.post("/prompts", headers=troll.headers, json=prompt_body())
    assert "suspended" in assert_problem(r, 403)["detail"]
    c = make_client(ws_url, token=troll.token)
    await c.connect()
    try:
        sub = c.new_subscription("rooms:lobby", Recorder())
        await sub.subscribe()
        await sub.ready(5)
        with pytest.raises(ReplyError) as err:
            await sub.publish({"text": "still here"})
        assert err.value.code == 103
    finally:
        await c.disconnect()
    # Others are not affected.
    assert (
        await client.post("/rooms/lobby/messages", headers=reporter.headers, json={"text": "ok"})
    ).status_code == 201


async def test_prompt_and_user_reports(client, register):
    creator, reporter = await register(), await register()
    moderator = await with_role(client, await register(), "moderator")
    prompt = await create_prompt(client, creator, title="Shady prompt")
    r = await client.post(
        "/reports",
        headers=reporter.headers,
        json={"subject_type": "prompt", "subject_id": prompt["id"], "reason": "plagiarism"},
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/moderation/reports/{r.json()['case_id']}/resolve",
        headers=moderator.headers,
        json={"action": "delete", "reason": "copied from X"},
    )
    assert r.status_code == 200, r.text
    assert (await client.get(f"/prompts/{prompt['id']}")).status_code == 404
    # Its owner cannot bring it back.
    r = await client.patch(
        f"/prompts/{prompt['id']}", headers=creator.headers, json={"status": "active"}
    )
    assert "moderator" in assert_problem(r, 403)["detail"]

    r = await client.post(
        "/reports",
        headers=reporter.headers,
        json={"subject_type": "user", "subject_id": creator.id, "reason": "impersonation"},
    )
    case_id = r.json()["case_id"]
    case = (await client.get(f"/moderation/reports/{case_id}", headers=moderator.headers)).json()
    assert case["subject"]["url"] == f"/creators/{creator.handle}"
    assert_problem(
        await client.post(
            f"/moderation/reports/{case_id}/resolve",
            headers=moderator.headers,
            json={"action": "delete", "reason": "x"},
        ),
        422,
        "action",
    )
    r = await client.post(
        f"/moderation/reports/{case_id}/resolve",
        headers=moderator.headers,
        json={"action": "dismiss", "reason": "it is really them"},
    )
    assert r.status_code == 200 and r.json()["resolution"]["action"] == "dismiss"
    # A dismissed item can be reported again: a new entry.
    r = await client.post(
        "/reports",
        headers=reporter.headers,
        json={"subject_type": "user", "subject_id": creator.id, "reason": "again"},
    )
    assert r.status_code == 201 and r.json()["case_id"] != case_id


async def test_bad_reports_are_clear_errors(client, register):
    user, owner = await register(), await register()
    slug = unique("priv-")
    await client.post(
        "/rooms", headers=owner.headers, json={"slug": slug, "title": "P", "visibility": "private"}
    )
    msg = (
        await client.post(f"/rooms/{slug}/messages", headers=owner.headers, json={"text": "x"})
    ).json()

    async def report(body, who=user):
        return await client.post("/reports", headers=who.headers, json=body)

    assert_problem(await client.post("/reports", json={}), 401)
    assert_problem(
        await report({"subject_type": "comment", "subject_id": msg["id"], "reason": "x"}),
        400,
        "subject_type",
    )
    assert_problem(
        await report({"subject_type": "message", "subject_id": "nope", "reason": "x"}),
        400,
        "subject_id",
    )
    assert_problem(
        await report({"subject_type": "message", "subject_id": msg["id"], "reason": ""}),
        400,
        "reason",
    )
    assert_problem(
        await report({"subject_type": "message", "subject_id": msg["id"], "reason": "   "}),
        422,
        "reason",
    )
    # A message of a private room the reporter cannot read does not exist for them.
    assert_problem(
        await report({"subject_type": "message", "subject_id": msg["id"], "reason": "x"}), 404
    )
    assert_problem(
        await report({"subject_type": "user", "subject_id": user.id, "reason": "me"}),
        422,
        "subject_id",
    )
    assert_problem(
        await report({"subject_type": "message", "subject_id": msg["id"], "reason": "x"}, owner),
        422,
        "subject_id",
    )


async def test_only_moderators_may_watch_the_queue(register, ws_url):
    user = await register()
    c = make_client(ws_url, token=user.token)
    await c.connect()
    try:
        assert await subscribe_error(c, "moderation:reports") == 103
        assert await subscribe_error(c, "moderation:other") == 102
    finally:
        await c.disconnect()
    anon = make_client(ws_url)
    await anon.connect()
    try:
        assert await subscribe_error(anon, "moderation:reports") == 103
    finally:
        await anon.disconnect()


async def test_gdpr_export_and_erasure_of_reports(client, register):
    author, reporter = await register(), await register()
    moderator = await with_role(client, await register(), "moderator")
    _, msg = await _room_with_message(client, author)
    r = await client.post(
        "/reports",
        headers=reporter.headers,
        json={"subject_type": "message", "subject_id": msg["id"], "reason": "my neighbour Tom"},
    )
    mine = (await client.get("/me/export", headers=reporter.headers)).json()["moderation"]
    assert [(x["subject_id"], x["reason"]) for x in mine["reports_filed"]] == [
        (msg["id"], "my neighbour Tom")
    ]
    assert (await client.delete("/me", headers=reporter.headers)).status_code == 204
    case = (
        await client.get(f"/moderation/reports/{r.json()['case_id']}", headers=moderator.headers)
    ).json()
    assert case["report_count"] == 1 and case["reports"][0]["reason"] == "[erased]"
