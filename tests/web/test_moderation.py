"""Safety in the browser: reporting a message, a prompt, a review or a profile; the moderator's
queue, live; the admin's audit log; blocking and unblocking; notification settings."""

from __future__ import annotations

from typing import Any

import httpx

from hub.platform.db import fetch
from tests.conftest import unique
from tests.web.conftest import needs_browser, shot
from tests.web.test_browser import assert_fits_and_labelled, finished_run, start_run

pytestmark = needs_browser


async def with_role(client: Any, register: Any, role: str, **kw: Any) -> dict[str, Any]:
    """A user given a role, signed in again so the session carries it."""
    acct = await register(**kw)
    await fetch("UPDATE users SET roles = $2 WHERE id = $1::uuid", acct.id, [role])
    r = await client.post(
        "/auth/login", json={"email": acct["email"], "password": acct["password"]}
    )
    return type(acct)({**acct, **r.json()})


async def test_a_reported_message_reaches_the_queue_live_and_a_ban_is_audited(
    pages, client, register
):
    from playwright.async_api import expect

    ann = await register(display_name="Ann Spam")
    ben, carol = await register(display_name="Ben"), await register()
    mod = await with_role(client, register, "moderator")
    admin = await with_role(client, register, "admin")
    slug = unique("room-")
    assert (
        await client.post("/rooms", headers=ann.headers, json={"slug": slug, "title": "Deals"})
    ).status_code == 201
    text = f"Cheap followers at spam.example {unique()}"
    msg = (
        await client.post(f"/rooms/{slug}/messages", headers=ann.headers, json={"text": text})
    ).json()

    # The queue is shared by the whole suite: other tests' open cases are dismissed first so
    # the page starts from its empty state.
    await fetch(
        "UPDATE moderation_cases SET status = 'resolved', resolution = 'dismiss', "
        "resolved_at = now() WHERE status = 'open'"
    )
    queue = await pages.open("/moderation", account=mod)
    await expect(queue.get_by_text("Nothing to review: no open reports.")).to_be_visible()
    await expect(queue.get_by_role("link", name="Moderation")).to_be_visible()  # footer

    chat = await pages.open(f"/chat/{slug}", account=ben)
    message = chat.locator(".message", has_text=text)
    await expect(message.get_by_role("button", name="Edit")).to_be_hidden()
    await message.get_by_role("button", name="Report").click()
    dialog = chat.get_by_role("dialog", name="Report to the moderators")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text(f"A message by @{ann.handle}")
    await dialog.get_by_role("button", name="Send the report").click()
    await expect(dialog.locator("[data-report-error]")).to_have_text(
        "Say what is wrong, in a few words."
    )
    await dialog.get_by_label("What is wrong with it?").fill("Spam link")
    await dialog.get_by_role("button", name="Send the report").click()
    await expect(dialog.locator("[data-report-done]")).to_contain_text("Thank you")
    await dialog.get_by_role("button", name="Close").click()
    await expect(dialog).to_be_hidden()
    await expect(message.get_by_role("button", name="Report")).to_be_focused()

    # The moderator is told live, and refreshes when ready.
    news = queue.locator("[data-queue-news]")
    await expect(news).to_contain_text("A new report arrived.")
    await news.get_by_role("button", name="Refresh the queue").click()
    case = queue.locator("article.case", has_text=text)
    await expect(case).to_contain_text("1 report")
    await expect(case).to_contain_text("Spam link")
    r = await client.post(
        "/reports",
        headers=carol.headers,
        json={"subject_type": "message", "subject_id": msg["id"], "reason": "Advertising"},
    )
    assert r.status_code == 201, r.text
    await expect(news).to_contain_text("Someone else reported an item in the queue.")
    await news.get_by_role("button", name="Refresh the queue").click()
    case = queue.locator("article.case", has_text=text)
    await expect(case).to_contain_text("2 reports")
    await expect(case).to_contain_text("Advertising")
    await shot(queue, "moderation-queue")
    phone = await pages.open("/moderation", account=mod, width=375, height=800)
    await expect(phone.locator("article.case", has_text=text)).to_contain_text("2 reports")
    await assert_fits_and_labelled(phone, "/moderation", 375)
    await shot(phone, "moderation-queue-375")

    # A ban of the author with the message removed: one decision, with a reason.
    await case.get_by_role("button", name="Resolve").click()  # nothing chosen: the browser asks
    await case.get_by_label(f"Suspend @{ann.handle} from posting").check()
    await case.get_by_label("Minutes (for a suspension)").fill("60")
    await case.get_by_label("and remove the message").check()
    await case.get_by_label("Reason (for the audit log)").fill("Spam, twice reported")
    await case.get_by_role("button", name="Resolve").click()
    await expect(case).to_contain_text("Suspended for 60 minutes")
    await expect(case).to_contain_text(f"by @{mod.handle}")
    await expect(chat.locator(".message", has_text=text)).to_have_count(0)  # gone live
    await expect(news).to_be_hidden()  # our own decision is no news
    blocked = await client.post(f"/rooms/{slug}/messages", headers=ann.headers, json={"text": "hi"})
    assert blocked.status_code == 403
    await expect(chat.locator("#bell .badge")).to_have_text("1")  # "A moderator reviewed…"
    await queue.get_by_role("link", name="Resolved").click()
    await expect(queue.locator("article.case", has_text=text)).to_contain_text(
        "Spam, twice reported"
    )

    # The admin's audit log says who did what, to whom and why.
    log = await pages.open("/admin/audit-log", account=admin)
    row = log.locator("tr[data-audit]", has_text="Spam, twice reported")
    await expect(row).to_contain_text("Suspended after a report: message · 60 min · 2 reports")
    await expect(row).to_contain_text(f"@{mod.handle}")
    await expect(row).to_contain_text(f"@{ann.handle}")
    await shot(log, "audit-log")
    await phone.goto("/admin/audit-log")
    await expect(phone.get_by_text("Only admins can read the audit log.")).to_be_visible()
    admin_phone = await pages.open("/admin/audit-log", account=admin, width=375, height=800)
    await expect(admin_phone.locator("tr[data-audit]").first).to_be_visible()
    await assert_fits_and_labelled(admin_phone, "/admin/audit-log", 375)
    await phone.goto("/admin/audit-log")
    await expect(phone.get_by_text("Only admins can read the audit log.")).to_be_visible()
    admin_phone = await pages.open("/admin/audit-log", account=admin, width=375, height=800)
    await expect(admin_phone.locator("tr[data-audit]").first).to_be_visible()
    await assert_fits_and_labelled(admin_phone, "/admin/audit-log", 375)
    await log.get_by_label("Show").select_option("report.dismiss")
    await log.get_by_role("button", name="Filter").click()
    await expect(log.locator("tr[data-audit]", has_text="Spam, twice reported")).to_have_count(0)
    # Others: the queue is for moderators, the log for admins.
    other = await pages.open("/moderation", account=ben)
    await expect(
        other.get_by_text("Only moderators can see and act on the moderation queue.")
    ).to_be_visible()
    await expect(other.get_by_role("link", name="Moderation")).to_be_hidden()
    await other.goto("/admin/audit-log")
    await expect(other.get_by_text("Only admins can read the audit log.")).to_be_visible()
    moderator_log = await pages.open("/admin/audit-log", account=mod)
    await expect(moderator_log.get_by_text("Only admins can read the audit log.")).to_be_visible()


async def test_report_a_prompt_a_review_and_a_profile_then_block(
    pages, client, register, new_prompt
):
    from playwright.async_api import expect

    creator, buyer, visitor = await register(), await register(), await register()
    mod = await with_role(client, register, "moderator")
    p = await new_prompt(creator, private_mode=False)
    run = await start_run(client, buyer, p["id"], max_tokens=10)
    assert (await finished_run(client, buyer, run["id"]))["status"] == "completed"
    r = await client.post(
        f"/prompts/{p['id']}/reviews",
        headers=buyer.headers,
        json={"rating": 1, "body": "Rude words"},
    )
    assert r.status_code in (200, 201), r.text

    anonymous = await pages.open(f"/prompts/{p['id']}")
    await expect(anonymous.get_by_role("heading", level=1)).to_have_text(p["title"])
    await expect(anonymous.get_by_role("button", name="Report this prompt")).to_be_hidden()
    own = await pages.open(f"/prompts/{p['id']}", account=creator)
    await expect(own.get_by_role("link", name="Manage this prompt")).to_be_visible()
    await expect(own.get_by_role("button", name="Report this prompt")).to_be_hidden()
    await expect(
        own.get_by_role("button", name=f"Report the review by @{buyer.handle}")
    ).to_be_visible()
    mine = await pages.open(f"/prompts/{p['id']}", account=buyer)
    await expect(mine.locator(".review", has_text="Rude words")).to_be_visible()
    await expect(
        mine.get_by_role("button", name=f"Report the review by @{buyer.handle}")
    ).to_be_hidden()

    page = await pages.open(f"/prompts/{p['id']}", account=visitor)
    dialog = page.get_by_role("dialog", name="Report to the moderators")
    for attempt in ("Thank you", "You already reported this"):
        await page.get_by_role("button", name="Report this prompt").click()
        await expect(dialog).to_contain_text(f"The prompt “{p['title']}” by @{creator.handle}")
        await dialog.get_by_label("What is wrong with it?").fill("Copied from elsewhere")
        await dialog.get_by_label("What is wrong with it?").press("Tab")
        await dialog.get_by_role("button", name="Send the report").click()
        await expect(dialog.locator("[data-report-done]")).to_contain_text(attempt)
        await page.keyboard.press("Escape")
        await expect(dialog).to_be_hidden()
    await page.get_by_role("button", name=f"Report the review by @{buyer.handle}").click()
    await dialog.get_by_label("What is wrong with it?").fill("Insults the creator")
    await dialog.get_by_role("button", name="Send the report").click()
    await expect(dialog.locator("[data-report-done]")).to_contain_text("Thank you")
    await dialog.get_by_role("button", name="Close").click()

    await page.goto(f"/creators/{creator.handle}")
    await page.get_by_role("button", name=f"Report @{creator.handle}").click()
    await expect(dialog).to_contain_text(f"The profile of @{creator.handle}")
    await dialog.get_by_label("What is wrong with it?").fill("Impersonates someone")
    await dialog.get_by_role("button", name="Send the report").click()
    await expect(dialog.locator("[data-report-done]")).to_contain_text("Thank you")
    await dialog.get_by_role("button", name="Close").click()
    queue = (await client.get("/moderation/reports", headers=mod.headers)).json()["items"]
    mine_cases = {
        c["subject"]["type"]: c
        for c in queue
        if c["subject"]["id"] in (p["id"], creator.id)
        or c["subject"]["preview"].endswith("Rude words")
    }
    assert set(mine_cases) == {"prompt", "review", "user"}
    assert mine_cases["prompt"]["report_count"] == 1  # reporting twice counts once

    # Blocking from the profile, undone from the account area.
    await page.get_by_role("button", name=f"Block @{creator.handle}").click()
    await expect(page.locator("#block-outcome")).to_contain_text(f"You blocked @{creator.handle}")
    await page.get_by_role("link", name="Blocked people").click()
    await expect(page.get_by_role("heading", name="Blocked people")).to_be_visible()
    row = page.locator(f"[data-blocked='{creator.handle}']")
    await expect(row).to_be_visible()
    await shot(page, "blocked-people")
    r = await client.post(
        "/me/dms", headers=creator.headers, json={"handle": visitor.handle, "text": "hi"}
    )
    assert r.status_code == 403
    await row.get_by_role("button", name=f"Unblock @{creator.handle}").click()
    await expect(page.get_by_text(f"You unblocked @{creator.handle}.")).to_be_visible()
    await expect(page.get_by_text("You have not blocked anyone.")).to_be_visible()
    await page.get_by_label("Block someone by handle").fill("@" + buyer.handle)
    await page.get_by_role("button", name="Block", exact=True).click()
    await expect(page.locator(f"[data-blocked='{buyer.handle}']")).to_be_visible()
    await page.get_by_label("Block someone by handle").fill(visitor.handle)
    await page.get_by_role("button", name="Block", exact=True).click()
    await expect(page.locator("#block-result [role=alert]")).to_contain_text(
        "cannot block yourself"
    )
    blocked = (await client.get("/me/blocks", headers=visitor.headers)).json()["items"]
    assert [b["handle"] for b in blocked] == [buyer.handle]
    # Your own profile offers neither.
    await page.goto(f"/creators/{visitor.handle}")
    await expect(page.get_by_role("button", name=f"Report @{visitor.handle}")).to_be_hidden()


async def test_notification_settings_follow_across_tabs(pages, client, register):
    from playwright.async_api import expect

    me = await register()
    page = await pages.open("/account", account=me)
    await page.get_by_role("link", name="Notifications", exact=True).click()
    await expect(page.get_by_role("heading", name="Notification settings")).to_be_visible()
    other = await pages.open("/account/notifications", context=page.context)
    box = "A creator you follow publishes a prompt: in the app"
    await expect(other.get_by_label(box)).to_be_checked()
    await page.get_by_label(box).uncheck()
    await page.get_by_label("Someone follows you: by email").uncheck()
    await page.get_by_label("Email digest").uncheck()
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_text("Saved.")).to_be_visible()
    # The other tab follows, live.
    await expect(other.get_by_label(box)).not_to_be_checked()
    await expect(other.get_by_label("Email digest")).not_to_be_checked()
    got = (await client.get("/me/notification-settings", headers=me.headers)).json()
    assert got["email_digest"] is False
    assert got["types"]["prompt.published"] == {
        "in_app": False,
        "email": True,
        "label": "A creator you follow publishes a prompt",
    }
    assert got["types"]["follower.new"]["email"] is False
    assert got["types"]["follower.new"]["in_app"] is True
    await shot(page, "notification-settings")
    # Back on, from the other tab.
    await other.get_by_label(box).check()
    await other.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_label(box)).to_be_checked()


async def test_the_moderation_pages_need_a_token(hub_server):
    async with httpx.AsyncClient(base_url=hub_server) as web:
        for path in (
            "/web/moderation",
            "/web/admin/audit-log",
            "/web/notification-settings",
            "/web/blocks",
        ):
            assert (await web.get(path)).status_code == 401, path
        for path in (
            "/moderation",
            "/admin/audit-log",
            "/account/notifications",
            "/account/blocked",
            "/reset-password",
        ):
            r = await web.get(path)
            assert (
                r.status_code == 200 and "script-src 'self'" in r.headers["content-security-policy"]
            ), path
