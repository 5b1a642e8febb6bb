"""Creators manage their prompts in the browser: details, a new version of the text (which
only they ever see, and only when they ask), samples from their own runs with images,
archive and restore; the leak guard's incidents for the creator and for admins."""

from __future__ import annotations

from typing import Any

import httpx

from hub.platform.db import fetch
from tests.conftest import unique
from tests.media.images import png
from tests.web.conftest import needs_browser, shot
from tests.web.test_browser import finished_run, start_run

pytestmark = needs_browser


async def admin_account(client: Any, register: Any) -> dict[str, Any]:
    acct = await register()
    await fetch("UPDATE users SET roles = '{admin}' WHERE id = $1::uuid", acct.id)
    r = await client.post(
        "/auth/login", json={"email": acct["email"], "password": acct["password"]}
    )
    return {**acct, **r.json()}


async def test_a_creator_edits_versions_and_archives_a_prompt(
    pages, client, register, new_prompt, hub_server
):
    from playwright.async_api import expect

    creator, buyer = await register(), await register()
    marker = unique("SECRETMARK")
    p = await new_prompt(creator, template=f"{marker} Write a haiku about {{{{topic}}}}")
    page = await pages.open("/dashboard", account=creator)
    await page.get_by_role("link", name=f"Manage {p['title']}").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(p["title"])
    await expect(page.locator("[aria-busy=true]")).to_have_count(0)
    # The text of a Private Mode prompt is not on the page until its owner asks for it.
    assert marker not in await page.content()

    title = f"Haiku studio {unique()}"
    await page.get_by_label("Title", exact=True).fill(title)
    await page.get_by_label("Description", exact=True).fill("Seventeen syllables, on any topic.")
    await page.get_by_label("Tags (comma separated)").fill("poetry, Haiku, short")
    await page.get_by_label("Price per run (cents)").fill("35")
    await page.get_by_label("Topic").fill("the first frost")
    await page.get_by_role("button", name="Save details").click()
    await expect(page.locator("#details-result")).to_contain_text("Saved.")
    await expect(page.get_by_role("heading", level=1)).to_have_text(title)
    await expect(page.locator("#manage-head")).to_contain_text("$0.35 per run")
    got = (await client.get(f"/prompts/{p['id']}", headers=creator.headers)).json()
    assert (got["title"], got["price_cents"], got["tags"]) == (
        title,
        35,
        ["poetry", "haiku", "short"],
    )
    assert got["sample_inputs"] == {"topic": "the first frost"} and got["private_mode"] is True

    # A bad price is explained where the creator is typing; nothing changes.
    await page.get_by_label("Price per run (cents)").fill("-5")
    await page.get_by_label("Price per run (cents)").evaluate("el => el.form.noValidate = true")
    await page.get_by_role("button", name="Save details").click()
    await expect(page.locator("#details-result [role=alert]")).to_contain_text(
        "Price per run (cents): must be a whole number of at least 0."
    )
    await expect(page.get_by_label("Title", exact=True)).to_have_value(title)

    # The text: shown on request, a new version published from the page.
    await page.get_by_role("button", name="Show and edit the prompt text").click()
    editor = page.get_by_label("Prompt text (version 1)")
    await expect(editor).to_have_value(f"{marker} Write a haiku about {{{{topic}}}}")
    await editor.fill("Write a haiku about {{ topic }} in the style of {{ poet!! }}")
    await page.get_by_role("button", name="Publish as version 2").click()
    await expect(page.locator("#template-result [role=alert]")).to_be_visible()
    await expect(editor).to_have_value(
        "Write a haiku about {{ topic }} in the style of {{ poet!! }}"
    )
    await editor.fill(f"{marker} Write a haiku about {{{{topic}}}} in the style of {{{{poet}}}}")
    await page.get_by_role("button", name="Publish as version 2").click()
    await expect(page.locator("#template-area")).to_contain_text("Version 2 is live")
    await expect(page.locator(".versions li")).to_have_count(2)
    await expect(page.locator("#manage-head")).to_contain_text("Version 2")
    assert marker not in await page.content()  # the editor closed with the text
    got = (await client.get(f"/prompts/{p['id']}", headers=creator.headers)).json()
    assert got["version"] == 2 and got["variables"] == ["topic", "poet"]
    await shot(page, "manage-prompt")

    # Nobody else gets the manage fragments, the template least of all.
    other = await pages.open(f"/prompts/{p['id']}/manage", account=buyer)
    await expect(other.get_by_text("Only the prompt's creator can manage it.")).to_be_visible()
    async with httpx.AsyncClient(base_url=hub_server) as web:
        for path in ("template", "manage", "leak-guard"):
            r = await web.get(f"/web/prompts/{p['id']}/{path}", headers=buyer.headers)
            assert r.status_code == 403 and marker not in r.text, (path, r.status_code)
        r = await web.get(f"/web/prompts/{p['id']}/template", headers=creator.headers)
        assert r.status_code == 200 and marker in r.text
        assert r.headers["cache-control"] == "no-store"
    # The owner, and only the owner, finds the way here from the prompt page.
    await other.goto(f"/prompts/{p['id']}")
    await expect(other.get_by_role("heading", level=1)).to_have_text(title)
    await expect(other.get_by_role("link", name="Manage this prompt")).to_be_hidden()
    await page.goto(f"/prompts/{p['id']}")
    await page.get_by_role("link", name="Manage this prompt").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(title)

    # Archive: gone for everyone else; restore: back.
    await page.locator("summary", has_text="Archive this prompt").click()
    await page.get_by_role("button", name="Archive it").click()
    await expect(page.locator("#status-area")).to_contain_text("Archived: it left the listings")
    await expect(page.locator("#manage-head")).to_contain_text("Archived")
    assert (await client.get(f"/prompts/{p['id']}")).status_code == 404
    await page.get_by_role("button", name="Restore it").click()
    await expect(page.locator("#status-area")).to_contain_text("Restored")
    await expect(page.locator("#manage-head")).to_contain_text("Listed")
    assert (await client.get(f"/prompts/{p['id']}")).status_code == 200


async def test_samples_from_the_creators_runs_with_images(pages, client, register, new_prompt):
    from playwright.async_api import expect

    creator = await register()
    p = await new_prompt(creator, private_mode=False, price_cents=0)
    run = await start_run(client, creator, p["id"], max_tokens=40)
    done = await finished_run(client, creator, run["id"])
    assert done["status"] == "completed"
    page = await pages.open(f"/prompts/{p['id']}/manage", account=creator)
    await expect(page.get_by_text("No samples yet")).to_be_visible()
    choice = page.locator(".run-choice")
    await expect(choice).to_have_count(1)
    await expect(choice).to_contain_text("topic: autumn rain")
    await page.get_by_label("Sample title (optional)").first.fill("Autumn rain")
    await page.get_by_role("button", name="Add as a sample").click()
    await expect(page.locator("#samples-area")).to_contain_text("Sample added: Autumn rain")
    item = page.locator(".sample-item", has_text="Autumn rain")
    await expect(item.locator(".output")).to_have_text(done["output"])
    # The run is used: it is no longer offered.
    await expect(page.locator(".run-choice")).to_have_count(0)

    # An image, described for screen readers; a file that is not an image is refused.
    picker = page.get_by_label("Add an image to Autumn rain")
    await picker.set_input_files(
        {"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image at all"}
    )
    await page.get_by_role("button", name="Upload image").click()
    await expect(page.locator("#samples-result [role=alert]")).to_contain_text("image")
    await picker.set_input_files(
        {"name": "rain.png", "mimeType": "image/png", "buffer": png(640, 320, mode="RGB")}
    )
    await page.get_by_label("What the image shows").fill("Rain on a window at dusk")
    await page.get_by_role("button", name="Upload image").click()
    await expect(page.locator("#samples-area")).to_contain_text("Image added.")
    await expect(page.get_by_role("img", name="Rain on a window at dusk")).to_be_visible()
    public = await pages.open(f"/prompts/{p['id']}")
    await expect(public.get_by_role("img", name="Rain on a window at dusk")).to_be_visible()
    await expect(public.locator(".sample")).to_contain_text("Autumn rain")
    await shot(page, "manage-samples")

    # A sample written by hand, then removals.
    await page.locator("summary", has_text="Or write a sample by hand").click()
    await page.get_by_label("Output").fill("Frost on the pond; a heron waits.")
    await page.get_by_role("button", name="Add this sample").click()
    await expect(page.locator(".sample-item")).to_have_count(2)
    await page.get_by_role("button", name="Remove image 1 of Autumn rain").click()
    await expect(page.locator("#samples-area")).to_contain_text("Image removed.")
    await expect(page.get_by_role("img", name="Rain on a window at dusk")).to_have_count(0)
    item = page.locator(".sample-item", has_text="Autumn rain")
    await item.locator("summary", has_text="Remove Autumn rain").click()
    await item.get_by_role("button", name="Remove this sample").click()
    await expect(page.locator("#samples-area")).to_contain_text("Sample removed")
    await expect(page.locator(".sample-item")).to_have_count(1)
    await expect(page.locator(".run-choice")).to_have_count(1)  # the run can be used again
    samples = (await client.get(f"/prompts/{p['id']}/samples")).json()["items"]
    assert [s["output"] for s in samples] == ["Frost on the pond; a heron waits."]


async def test_leak_guard_incidents_for_the_creator_and_admins(pages, client, register, fake_model):
    """A model that echoes its instructions: the guard hides the text, and the creator (on
    the dashboard and the manage page) and admins (on the admin page) see how often, in
    which runs, never what."""
    from playwright.async_api import expect

    from tests.providers.test_leak_guard import INPUTS, TEMPLATE

    spec, _ = fake_model("echo")
    creator, buyer = await register(), await register()
    admin = await admin_account(client, register)
    r = await client.post(
        "/prompts",
        headers=creator.headers,
        json={
            "title": f"Cover letter {unique()}",
            "template": TEMPLATE,
            "model": spec.name,
            "price_cents": 5,
            "private_mode": True,
        },
    )
    assert r.status_code == 201, r.text
    prompt = r.json()
    run = await start_run(client, buyer, prompt["id"], inputs=INPUTS, max_tokens=2000)
    done = await finished_run(client, buyer, run["id"])
    assert done["status"] == "completed" and "[hidden by Private Mode]" in done["output"]
    record = (
        await client.get(f"/prompts/{prompt['id']}/leak-guard", headers=creator.headers)
    ).json()
    hidden = record["leak_guard_redactions"]
    assert hidden >= 1

    page = await pages.open("/dashboard", account=creator)
    row = page.locator(f"[data-my-prompt='{prompt['id']}']")
    await expect(row.locator("[data-leak-count]")).to_have_text(
        f"{hidden} leak{'' if hidden == 1 else 's'} hidden"
    )
    await row.locator("[data-leak-count]").click()
    guard = page.locator("section", has=page.get_by_role("heading", name="Leak guard"))
    await expect(guard.locator("[data-leak-count]")).to_have_text(str(hidden))
    await expect(guard).to_contain_text("Always on in Private Mode")
    await expect(guard.locator(f"[data-leak-run='{run['id']}']")).to_contain_text("Private run")
    words = TEMPLATE.split()
    body = await page.locator("main").inner_text()
    assert " ".join(words[3:9]) not in body  # counts only, never the text
    await shot(page, "manage-leak-guard")

    admin_page = await pages.open("/admin", account=admin)
    line = admin_page.locator(f"[data-leak-prompt='{prompt['id']}']")
    await expect(line).to_contain_text(prompt["title"])
    await expect(line).to_contain_text(f"@{creator.handle}")
    await expect(line.locator("td.num")).to_have_text(str(hidden))
    await line.get_by_role("button", name=f"Show the runs of {prompt['title']}").click()
    await expect(admin_page.locator(f"[data-leak-run='{run['id']}']")).to_be_visible()
    # Others are not admins.
    async with httpx.AsyncClient(base_url=str(client.base_url).replace("/api/v1", "")) as web:
        r = await web.get("/web/admin/leak-guard", headers=creator.headers)
        assert r.status_code == 403 and "Only admins" in r.text
