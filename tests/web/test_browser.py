"""The web product in headless Chromium, as its users meet it: buyers, spectators, creators,
community members. Every wait is for something a person would see, never a fixed sleep."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import unique
from tests.web.conftest import needs_browser, session_script, shot

pytestmark = needs_browser


async def start_run(client: Any, buyer: Any, prompt_id: str, **body: Any) -> dict[str, Any]:
    r = await client.post(
        f"/prompts/{prompt_id}/runs",
        headers={**buyer.headers, "Idempotency-Key": unique()},
        json={"inputs": {"topic": "autumn rain"}, **body},
    )
    assert r.status_code == 202, r.text
    return r.json()


async def finished_run(client: Any, buyer: Any, run_id: str) -> dict[str, Any]:
    for _ in range(600):
        run = (await client.get(f"/runs/{run_id}", headers=buyer.headers)).json()
        if run["status"] in ("completed", "failed", "canceled"):
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish: {run}")


async def test_sign_up_and_sign_in_through_the_forms(pages, client, register, mailbox):
    from playwright.async_api import expect

    page = await pages.open("/signup")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    handle = unique("web_")
    await page.get_by_label("Email").fill(f"{handle}@example.com")
    await page.get_by_label("Handle").fill("ab")  # too short: the API's message is shown
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("[data-form-error]")).to_contain_text("handle")
    await page.get_by_label("Handle").fill(handle)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("#me-link")).to_have_text(f"@{handle}")
    await expect(page.locator("#wallet-chip")).to_have_text("$0.00")
    # The starter credits come with the link mailed to the address (over SMTP).
    mail = await mailbox.wait_for(f"{handle}@example.com", "Confirm your email")
    link = await pages.open("/#verify-email=" + mail.token("verify-email"), context=page.context)
    await expect(link.locator("#flash")).to_contain_text("Email confirmed")
    await expect(link.locator("#wallet-chip")).to_have_text("$5.00")
    assert "verify-email" not in link.url
    await link.close()
    await page.reload()
    await expect(page.locator("#wallet-chip")).to_have_text("$5.00")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    await shot(page, "home-signed-in", docs=True)
    # Sign out, then a wrong password is explained, the right one signs in.
    await page.goto("/account")
    await page.get_by_role("button", name="Sign out", exact=True).click()
    await expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    await page.goto("/signin")
    await shot(page, "signin")
    await page.get_by_label("Email").fill(f"{handle}@example.com")
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("[data-form-error]")).to_contain_text("incorrect")
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#me-link")).to_have_text(f"@{handle}")


async def test_two_people_chat_with_names_presence_and_edits(pages, client, register):
    from playwright.async_api import expect

    ann, ben = await register(display_name="Ann Lee"), await register(display_name="Ben Ito")
    slug = unique("room-")
    r = await client.post(
        "/rooms", headers=ann.headers, json={"slug": slug, "title": "Poetry corner"}
    )
    assert r.status_code == 201, r.text
    a = await pages.open(f"/chat/{slug}", account=ann)
    b = await pages.open(f"/chat/{slug}", account=ben)
    # Each sees the other by name in "Here now", live.
    await expect(a.locator("[data-people]")).to_contain_text("Ben Ito")
    await expect(b.locator("[data-people]")).to_contain_text("Ann Lee")
    await expect(a.get_by_role("link", name="Poetry corner")).to_be_visible()
    text = f"Hi Ben, a very-long-word-{'x' * 120} {unique()}"
    await a.get_by_label("Your message").fill(text)
    await a.get_by_label("Your message").press("Enter")
    msg_b = b.locator(".message", has_text=text)
    await expect(msg_b).to_have_count(1)
    await expect(msg_b.locator(".msg-author")).to_have_text("Ann Lee")
    await expect(msg_b.locator("time")).not_to_be_empty()
    reply = f"Hello @{ann.handle} {unique()}"
    await b.get_by_label("Your message").fill(reply)
    await b.get_by_role("button", name="Send").click()
    await expect(a.locator(".message", has_text=reply)).to_have_count(1)
    mention = a.locator(".message", has_text=reply).get_by_role("link", name=f"@{ann.handle}")
    await expect(mention).to_have_attribute("href", f"/creators/{ann.handle}")
    # The author edits their message; the edit arrives live on the other side.
    a.once("dialog", lambda d: asyncio.ensure_future(d.accept("Hi Ben, edited")))
    await a.locator(".message", has_text=text).get_by_role("button", name="Edit").click()
    await expect(b.locator(".message", has_text="Hi Ben, edited")).to_have_count(1)
    await expect(
        b.locator(".message", has_text="Hi Ben, edited").locator(".edited")
    ).to_be_visible()
    # Ben cannot edit or delete Ann's message (he may only report it); Ann, the room's
    # owner, may delete Ben's.
    anns = b.locator(".message", has_text="Hi Ben, edited")
    await expect(anns.get_by_role("button", name="Report")).to_have_count(1)
    await expect(anns.get_by_role("button", name="Edit")).to_have_count(0)
    await expect(anns.get_by_role("button", name="Delete")).to_have_count(0)
    a.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await a.locator(".message", has_text=reply).get_by_role("button", name="Delete").click()
    await expect(b.locator(".message", has_text=reply)).to_have_count(0)
    # Nothing overflows the column, even an unbroken 120-character word.
    assert await b.evaluate("document.documentElement.scrollWidth") <= 1280
    await shot(a, "chat", docs=True)
    # Ben leaves: Ann sees him go.
    await b.close()
    await expect(a.locator("[data-people]")).not_to_contain_text("Ben Ito")
    # Ann opens a private room from the page and adds Ben; Ben sees it in his room list.
    await a.locator("summary", has_text="Create a room").click()
    await a.get_by_label("Title").fill("Drafts")
    private = unique("drafts-")
    await a.get_by_label("Address (letters, digits, - and _)").fill(private)
    await a.get_by_label("Who can join").select_option("private")
    await a.get_by_role("button", name="Create").click()
    await expect(a.get_by_role("heading", name="Drafts")).to_be_visible()
    await a.locator("summary", has_text="Add a member").click()
    await a.get_by_label("Handle").fill(ben.handle)
    await a.get_by_role("button", name="Add", exact=True).click()
    await expect(a.get_by_text(f"@{ben.handle} can now read and post")).to_be_visible()
    await expect(a.locator("[data-people]")).to_contain_text("Ben Ito")
    await expect(a.locator("[data-people]")).to_contain_text("offline")
    b = await pages.open("/chat", account=ben)
    await expect(b.get_by_role("link", name="Drafts")).to_be_visible()


async def test_buyer_runs_a_private_prompt_and_its_text_is_in_no_page(
    pages, client, register, new_prompt
):
    from playwright.async_api import expect

    creator, buyer = await register(), await register()
    marker = unique("SECRETMARK")
    p = await new_prompt(creator, template=f"{marker} Write a haiku about {{{{topic}}}}")
    page = await pages.open(f"/prompts/{p['id']}", account=buyer)
    await expect(page.get_by_role("heading", level=1)).to_have_text(p["title"])
    await expect(page.get_by_text("Private Mode").first).to_be_visible()
    await expect(page.locator("#estimate")).to_contain_text("we hold")
    await page.get_by_label("Topic").fill("first snow")
    await page.get_by_label("Max output tokens").fill("120")
    await page.get_by_role("button", name="Run for $0.10").click()
    status = page.locator("[data-run-status]")
    await expect(status).to_have_text("Completed", timeout=30_000)
    await expect(page.locator(".receipt")).to_contain_text("Charged")
    output = await page.locator("[data-run-output]").text_content()
    runs = (await client.get("/me/runs", headers=buyer.headers)).json()["items"]
    assert runs[0]["status"] == "completed" and output == runs[0]["output"]
    assert len(output.split()) >= 100
    await expect(page.locator("#wallet-chip")).not_to_have_text("$5.00")
    await shot(page, "prompt-run", docs=True)
    # Having run it, the buyer may review it; the review shows up for everyone, live.
    watcher = await pages.open(f"/prompts/{p['id']}")
    await page.get_by_label("5 stars").check()
    await page.get_by_label("What did you think?").fill("Crisp and seasonal.")
    await page.get_by_role("button", name="Post review").click()
    await expect(page.get_by_text("Thanks! Your review is saved.")).to_be_visible()
    review = watcher.locator(".review", has_text="Crisp and seasonal.")
    await expect(review).to_contain_text(f"@{buyer.handle}")
    await expect(review.locator(".stars")).to_have_attribute("aria-label", "5 out of 5 stars")
    await watcher.close()
    # The template is on no page, for the buyer or for its creator.
    creator_ctx = await pages.open("/dashboard", account=creator)
    visited = []
    for who, pg in (("buyer", page), ("creator", creator_ctx)):
        for path in (
            f"/prompts/{p['id']}",
            f"/prompts/{p['id']}/manage",  # its text only when the owner asks for it
            f"/runs/{runs[0]['id']}",
            "/",
            f"/search?q={p['title'].split()[-1]}",
            f"/creators/{creator.handle}",
            "/runs",
            "/notifications",
            "/dashboard",
            "/feed",
        ):
            await pg.goto(path)
            await expect(pg.locator("[aria-busy=true]")).to_have_count(0)
            assert marker not in await pg.content(), (who, path)
            visited.append(path)
    # The buyer's own private run page streams nothing new but shows the receipt.
    await page.goto(f"/runs/{runs[0]['id']}")
    await expect(page.locator("[data-run-output]")).to_have_text(output)
    await expect(page.locator(".receipt")).to_contain_text("Charged")


async def test_a_spectator_watches_a_public_run_without_the_buyers_money(
    pages, client, register, new_prompt
):
    from playwright.async_api import expect

    creator, buyer = await register(display_name="Cleo Creator"), await register()
    p = await new_prompt(creator, private_mode=False)
    run = await start_run(client, buyer, p["id"], visibility="public", max_tokens=1500)
    page = await pages.open(f"/runs/{run['id']}")  # anonymous
    await expect(page.get_by_role("heading", level=1)).to_have_text(p["title"])
    await expect(page.get_by_text("Cleo Creator")).to_be_visible()
    out = page.locator("[data-run-output]")
    await expect(out).not_to_be_empty()
    await expect(page.locator("[data-run-status]")).to_have_text("Completed", timeout=30_000)
    final = await finished_run(client, buyer, run["id"])
    await expect(out).to_have_text(final["output"])
    link = page.get_by_role("link", name="Run it yourself")
    await expect(link).to_have_attribute("href", f"/prompts/{p['id']}#run-h")
    body = await page.locator("main").inner_text()
    for money in (final["hold_cents"], final["charge_cents"]):
        assert f"${money / 100:.2f}" not in body.replace("$0.10", "")
    assert "Charged" not in body and "held" not in body.lower()
    await expect(page.locator("[data-live-label]")).to_have_text("Public run")
    # Spectators watch together: the prompt's room beside the run, and how many are here.
    other = await pages.open(f"/runs/{run['id']}", account=buyer)
    await expect(page.locator("[data-spectators]")).to_have_text("2 people here now")
    await expect(page.locator("[data-people]")).to_contain_text(buyer.handle)
    await other.close()
    await expect(page.locator("[data-spectators]")).to_have_text("1 person here now")
    await shot(page, "run-spectator", docs=True)
    # The home page lists live public runs; this one has ended, so it is gone from there.
    home = await pages.open("/")
    await expect(home.locator("#live-runs")).not_to_contain_text(p["title"])


async def test_the_creator_sees_the_sale_arrive_with_prompt_and_buyer(
    pages, client, register, new_prompt
):
    from playwright.async_api import expect

    creator, buyer = await register(), await register()
    p = await new_prompt(creator, price_cents=50, title=f"Seller {unique()}")
    page = await pages.open("/dashboard", account=creator)
    await expect(page.get_by_text("No sales yet")).to_be_visible()
    await start_run(client, buyer, p["id"], max_tokens=10)
    row = page.locator("tr[data-sale]").first
    await expect(row).to_contain_text(p["title"], timeout=20_000)
    await expect(row).to_contain_text(f"@{buyer.handle}")
    await expect(row).to_contain_text("$0.40")  # 80% of 50 cents
    await expect(page.locator("[data-earnings=pending]")).to_have_text("$0.40")
    await expect(page.locator("svg.chart rect.bar")).not_to_have_count(0)
    await expect(page.locator("#bell .badge")).to_have_text("1")  # "You earned $0.40 from …"
    await shot(page, "dashboard", docs=True)
    page2 = await pages.open("/notifications", context=page.context)
    await expect(page2.locator(".notification").first).to_contain_text(
        f"You earned $0.40 from \u201c{p['title']}\u201d"
    )


async def test_following_brings_the_next_prompt_to_feed_and_notifications_live(
    pages, client, register, new_prompt
):
    from playwright.async_api import expect

    creator, fan = await register(display_name="Dana Writer"), await register()
    page = await pages.open(f"/creators/{creator.handle}", account=fan)
    await shot(page, "creator")
    await page.get_by_role("button", name=f"Follow @{creator.handle}").click()
    await expect(page.get_by_role("button", name="Following · 1")).to_be_visible()
    await page.goto("/feed")
    await expect(page.get_by_text("Your feed is empty")).to_be_visible()
    other_tab = await pages.open("/notifications", context=page.context)
    await expect(other_tab.get_by_text("No notifications yet")).to_be_visible()
    title = f"Cold email v2 {unique()}"
    await new_prompt(creator, title=title)
    await expect(page.locator(".feed-item", has_text=title)).to_have_count(1, timeout=20_000)
    sentence = f"@{creator.handle} published \u201c{title}\u201d"
    await expect(other_tab.locator(".notification", has_text=sentence)).to_have_count(1)
    await expect(page.locator("#bell .badge")).to_have_text("1")
    await shot(page, "feed", docs=True)
    await shot(other_tab, "notifications")
    # Reading it in one tab updates the other tab live.
    await other_tab.get_by_role("button", name="Mark all as read").click()
    await expect(page.locator("#bell .badge")).to_be_hidden()
    await expect(other_tab.locator(".notification.unread")).to_have_count(0)
    link = other_tab.get_by_role("link", name=sentence)
    await link.click()
    await expect(other_tab.get_by_role("heading", level=1)).to_have_text(title)


async def test_offline_then_online_mid_run_loses_no_token(pages, client, register, new_prompt):
    from playwright.async_api import expect

    creator, buyer = await register(), await register()
    p = await new_prompt(creator)
    page = await pages.open(f"/prompts/{p['id']}", account=buyer)
    await page.get_by_label("Max output tokens").fill("2000")
    await page.get_by_role("button", name="Run for $0.10").click()
    out = page.locator("[data-run-output]")
    await expect(out).not_to_be_empty(timeout=20_000)
    run_id = await page.locator("[data-run-stream]").get_attribute("data-run-id")
    await page.context.set_offline(True)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    shown = len(await out.text_content() or "")
    # Tokens the page has not seen exist on the server before we come back.
    for _ in range(400):
        run = (await client.get(f"/runs/{run_id}", headers=buyer.headers)).json()
        if len(run["output"]) > shown + 50 or run["status"] == "completed":
            break
        await asyncio.sleep(0.05)
    assert len(run["output"]) > shown
    await page.context.set_offline(False)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "recovered")
    await expect(page.locator("[data-run-status]")).to_have_text("Completed", timeout=30_000)
    final = await finished_run(client, buyer, run_id)
    assert await out.text_content() == final["output"]
    assert final["usage"]["output_tokens"] == 2000


async def test_keyboard_only_search_open_and_run(pages, client, register, new_prompt):
    from playwright.async_api import expect

    creator, buyer = await register(), await register()
    word = unique("kb")
    p = await new_prompt(creator, title=f"Keyboard haiku {word}")
    page = await pages.open(f"/search?q={word}", account=buyer)
    await expect(page.locator(".card-link")).to_have_count(1)

    async def tab_to(predicate: str, limit: int = 80) -> None:
        for _ in range(limit):
            await page.keyboard.press("Tab")
            if await page.evaluate(predicate):
                visible = await page.evaluate(
                    "(() => { const r = document.activeElement.getBoundingClientRect();"
                    " return r.width > 0 && r.height > 0; })()"
                )
                assert visible, "focus went to something invisible"
                return
        raise AssertionError(f"Tab never reached {predicate}")

    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await tab_to("document.activeElement.classList.contains('card-link')")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text(p["title"])
    await tab_to("document.activeElement.classList.contains('run-button')")
    await page.keyboard.press("Enter")
    await expect(page.locator("[data-run-status]")).to_have_text("Completed", timeout=30_000)


PAGES = {
    "home": "/",
    "search": "/search?q=haiku",
    "prompt": "/prompts/{prompt}",
    "run": "/runs/{run}",
    "creator": "/creators/{creator}",
    "feed": "/feed",
    "notifications": "/notifications",
    "chat": "/chat",
    "my-runs": "/runs",
    "wallet": "/wallet",
    "dashboard": "/dashboard",
    "publish": "/publish",
    "account": "/account",
    "notification-settings": "/account/notifications",
    "blocked": "/account/blocked",
    "reset-password": "/reset-password",
    "signin": "/signin",
    "signup": "/signup",
}


CREATOR_PAGES = {"manage": "/prompts/{prompt}/manage", "dashboard-creator": "/dashboard"}


async def assert_fits_and_labelled(page: Any, url: str, width: int) -> None:
    """Nothing left loading, live, no sideways scroll, every visible control labelled."""
    from playwright.async_api import expect

    await expect(page.locator("[aria-busy=true]")).to_have_count(0)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    width_now = await page.evaluate("document.documentElement.scrollWidth")
    wide = await page.evaluate(
        """[...document.querySelectorAll('body *')]
           .filter((el) => el.getBoundingClientRect().right > innerWidth + 1)
           .map((el) => `${el.tagName}.${el.className}`).slice(0, 8)"""
    )
    assert width_now <= width, (url, width_now, wide)
    unlabelled = await page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
           .filter((el) => el.offsetParent !== null)
           .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                           && !(el.tagName === 'BUTTON' && el.textContent.trim()))
           .map((el) => el.outerHTML.slice(0, 80))"""
    )
    assert unlabelled == [], (url, unlabelled)


@pytest.mark.parametrize("width", [375, 1280])
async def test_every_page_renders_labelled_and_fits(pages, client, register, new_prompt, width):
    """Every page at phone and desktop width: no horizontal scroll, every control labelled,
    no loading spinner left behind, a screenshot of each."""

    creator, buyer = await register(), await register()
    p = await new_prompt(creator, private_mode=False)
    run = await start_run(client, buyer, p["id"], visibility="public", max_tokens=30)
    await finished_run(client, buyer, run["id"])
    page = await pages.open("/", account=buyer, width=width, height=800)
    for name, path in PAGES.items():
        url = path.format(prompt=p["id"], run=run["id"], creator=creator.handle)
        await page.goto(url)
        await assert_fits_and_labelled(page, url, width)
        await shot(page, f"{name}-{width}", docs=(width == 375 and name in ("home", "prompt")))
    # The creator's own pages, with something in each section.
    await client.post(
        f"/prompts/{p['id']}/samples", headers=creator.headers, json={"output": "A haiku."}
    )
    mine = await pages.open("/", account=creator, width=width, height=800)
    for name, path in CREATOR_PAGES.items():
        url = path.format(prompt=p["id"])
        await mine.goto(url)
        await assert_fits_and_labelled(mine, url, width)
        await shot(mine, f"{name}-{width}")
    if width == 375:
        # A real phone layout: the main navigation is a bottom tab bar.
        box = await page.locator("nav.tabs").bounding_box()
        assert box is not None and box["y"] > 600


async def test_docs_ui_works_offline_under_the_csp(pages, hub_server):
    from playwright.async_api import expect

    context = await pages.browser.new_context(base_url=hub_server)
    pages.contexts.append(context)
    outside: list[str] = []
    context.on(
        "request",
        lambda req: (
            outside.append(req.url)
            if not req.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else None
        ),
    )
    page = await pages.open("/schema", context=context)
    await expect(page.locator(".swagger-ui .title")).to_contain_text("BetterPrompt Hub API")
    await expect(page.get_by_text("/api/v1/auth/register").first).to_be_visible()
    assert outside == []


async def test_favicon_and_manifest(client, hub_server):
    import httpx

    async with httpx.AsyncClient(base_url=hub_server) as c:
        manifest = await c.get("/manifest.webmanifest")
        assert manifest.status_code == 200
        assert manifest.headers["content-type"].startswith("application/manifest+json")
        body = manifest.json()
        assert body["name"] == "BetterPrompt" and body["start_url"] == "/"
        for icon in body["icons"]:
            assert (await c.get(icon["src"])).status_code == 200
        assert (await c.get("/favicon.ico")).status_code == 200
        home = await c.get("/")
        assert '<link rel="manifest" href="/manifest.webmanifest">' in home.text
        assert "script-src 'self'" in home.headers["content-security-policy"]


async def test_the_run_form_states_the_cancel_rule_and_pins_the_price(
    pages, client, register, new_prompt
):
    """The buyer is told what cancelling costs and is charged the price they were shown: a
    price changed meanwhile refuses the run, holds nothing and says the new price."""
    from playwright.async_api import expect

    creator, buyer = await register(), await register()
    p = await new_prompt(creator, price_cents=49)
    page = await pages.open(f"/prompts/{p['id']}", account=buyer)
    rule = page.locator(".rule")
    await expect(rule).to_contain_text("before the first word of output and it costs nothing")
    await expect(rule).to_contain_text("full price plus the usage so far")
    await expect(page.locator("#estimate")).to_contain_text("Price $0.49")
    r = await client.patch(
        f"/prompts/{p['id']}", json={"price_cents": 451}, headers=creator.headers
    )
    assert r.status_code == 200, r.text
    await page.get_by_role("button", name="Run for $0.49").click()
    await expect(page.locator("#run-area")).to_contain_text("451 cents")
    await page.get_by_role("link", name="See the new price").click()
    await expect(page.get_by_role("button", name="Run for $4.51")).to_be_visible()
    assert (await client.get("/me/runs", headers=buyer.headers)).json()["items"] == []
    wallet = (await client.get("/me/wallet", headers=buyer.headers)).json()
    assert (wallet["balance_cents"], wallet["held_cents"]) == (500, 0)


async def test_forgot_password_mails_a_link_to_a_form_that_sets_a_new_one(
    pages, client, register, mailbox
):
    from playwright.async_api import expect

    acct = await register()
    page = await pages.open("/signin")
    await page.get_by_label("Email").fill(acct["email"])
    await page.get_by_role("link", name="Forgot your password?").click()
    await expect(page.locator("#flash")).to_contain_text("If an account uses this address")
    mail = await mailbox.wait_for(acct["email"], "Reset your BetterPrompt Hub password")
    token = mail.token("reset-password")
    assert f"/reset-password#reset-password={token}" in mail.text
    link = await pages.open(f"/reset-password#reset-password={token}", context=page.context)
    await expect(link.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    assert "reset-password=" not in link.url  # the token leaves the address bar at once
    password = link.get_by_label("New password", exact=True)
    await expect(link.get_by_text("8 to 128 characters.")).to_be_visible()
    # Each problem is told under its own field, and focus goes there.
    await password.fill("short")
    await link.get_by_label("The new password again").fill("short")
    await link.get_by_role("button", name="Set the new password").click()
    await expect(link.locator("[data-field-error=password]")).to_have_text(
        "Use 8 to 128 characters."
    )
    await expect(password).to_have_attribute("aria-invalid", "true")
    await expect(password).to_be_focused()
    await password.fill("a new passphrase 9")
    await link.get_by_label("The new password again").fill("a new passphrase 8")
    await link.get_by_role("button", name="Set the new password").click()
    await expect(link.locator("[data-field-error=confirm]")).to_have_text(
        "The two passwords are not the same."
    )
    await expect(link.locator("[data-field-error=password]")).to_be_hidden()
    await link.get_by_label("The new password again").fill("a new passphrase 9")
    await link.get_by_role("button", name="Set the new password").click()
    done = link.locator("[data-reset-done]")
    await expect(done).to_contain_text("Password changed.")
    await expect(done).to_be_focused()
    await expect(link.locator("form[data-reset-form]")).to_be_hidden()
    await shot(link, "reset-password")
    old = await client.post(
        "/auth/login", json={"email": acct["email"], "password": acct["password"]}
    )
    assert old.status_code == 401
    new = await client.post(
        "/auth/login", json={"email": acct["email"], "password": "a new passphrase 9"}
    )
    assert new.status_code == 200, new.text
    assert (await client.get("/me", headers=acct.headers)).status_code == 401
    # A used link (here in the older /#reset-password= form) is explained, with the way on.
    again = await pages.open(f"/#reset-password={token}", context=page.context)
    await expect(again.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    await again.get_by_label("New password", exact=True).fill("another passphrase 1")
    await again.get_by_label("The new password again").fill("another passphrase 1")
    await again.get_by_role("button", name="Set the new password").click()
    await expect(again.locator("[data-form-error]")).to_contain_text("already used or has expired")
    assert again.url.endswith("/reset-password")  # the address bar follows the page
    await again.reload()
    await expect(again.locator("[data-reset-missing]")).to_contain_text("Ask for a new link")
    await expect(again.locator("form[data-reset-form]")).to_be_hidden()


async def test_an_unverified_account_asks_for_a_new_link(pages, client, register, mailbox):
    from playwright.async_api import expect

    acct = await register(verify=False)
    await mailbox.wait_for(acct["email"], "Confirm your email")
    page = await pages.open("/account", account=acct)
    await expect(page.get_by_text("not verified")).to_be_visible()
    await page.get_by_role("button", name="Mail me a new confirmation link").click()
    await expect(page.locator("#flash")).to_contain_text("A new verification link was sent")
    second = await mailbox.wait_for(acct["email"], "Confirm your email", count=2)
    r = await client.post("/auth/verify-email", json={"token": second.token("verify-email")})
    assert r.status_code == 200, r.text


async def test_a_card_top_up_through_stripe_js_credits_the_wallet_live(
    pages, client, register, localstripe, monkeypatch
):
    """The wallet page loads Stripe.js (localstripe's double), shows Stripe's card fields,
    has the hub create the PaymentIntent and hands it to Stripe.js to confirm. The double
    cannot charge a PaymentIntent that has no card attached server-side, so the test then
    plays Stripe's part: the signed `payment_intent.succeeded` webhook, which alone credits
    the wallet, and the page shows the new balance live."""
    import msgspec
    from playwright.async_api import expect

    from hub.billing import topups
    from hub.platform import middleware
    from hub.platform.db import fetchrow
    from hub.platform.settings import get_settings
    from hub.web import render
    from tests.billing.conftest import WEBHOOK_SECRET
    from tests.billing.test_topups import intent_event, post_webhook

    configured = msgspec.structs.replace(
        get_settings(),
        stripe_secret_key="sk_test_hub",
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=localstripe,
        stripe_publishable_key="pk_test_hub",
        stripe_js_url=f"{localstripe}/js.stripe.com/v3/",
    )
    for module in (topups, render, middleware):
        monkeypatch.setattr(module, "get_settings", lambda: configured)
    buyer = await register()
    context = await pages.browser.new_context(base_url=pages.base)
    pages.contexts.append(context)
    await context.add_init_script(session_script(buyer))

    async def scoped_double(route: Any) -> None:
        # localstripe's Stripe.js double declares a top-level `class Element`, shadowing the
        # DOM's Element for every script on the page (htmx's `instanceof Element` then fails);
        # real Stripe.js does not. Run the double in its own function scope.
        response = await route.fetch()
        body = await response.text()
        await route.fulfill(response=response, body=f"(function () {{\n{body}\n}})();")

    await context.route("**/js.stripe.com/v3/", scoped_double)
    page = await pages.open("/wallet", context=context)
    await expect(page.locator("[data-balance]")).to_have_text("$5.00")
    fields = page.locator("[data-card-element] input")
    await expect(fields).to_have_count(5)  # Stripe's card fields (here: the double's)
    for name, value in (
        ("number", "4242424242424242"),
        ("exp_month", "12"),
        ("exp_year", "34"),
        ("cvc", "123"),
        ("postal_code", "90210"),
    ):
        await page.locator(f"[data-card-element] input[placeholder={name}]").fill(value)
    await page.get_by_label("$10.00").check()
    await page.get_by_role("button", name="Pay with card").click()
    status = page.locator("[data-topup-status]")
    await expect(status).to_contain_text("Confirming $10.00 with Stripe")
    row = await fetchrow(
        "SELECT payment_intent_id, amount_cents FROM topups WHERE user_id = $1",
        __import__("uuid").UUID(buyer.id),
    )
    assert row is not None and row["amount_cents"] == 1000
    r = await post_webhook(
        client, intent_event("payment_intent.succeeded", row["payment_intent_id"], 1000)
    )
    assert r.status_code == 200 and r.json()["applied"] is True
    await expect(page.locator("[data-balance]")).to_have_text("$15.00")
    await expect(page.locator("[data-promo-balance]")).to_have_text("$5.00")  # paid money apart
    await expect(page.locator("#wallet-chip")).to_have_text("$15.00")
    await expect(status).to_have_text("Credited. Thank you!")
    await expect(page.locator("table.ledger tbody tr").first).to_contain_text("Card top-up")
    await shot(page, "wallet-topup")


async def test_publish_a_prompt_from_the_page(pages, client, register):
    from playwright.async_api import expect

    creator = await register()
    page = await pages.open("/publish", account=creator)
    title = f"Limerick writer {unique()}"
    await page.get_by_label("Title").fill(title)
    await page.get_by_label("Description").fill("Five lines, one smile.")
    await page.get_by_label("Prompt text", exact=True).fill("Write a limerick about {{subject}}")
    await page.get_by_label("Price per run (cents)").fill("15")
    await page.get_by_label("Tags (comma separated)").fill("humor, poetry")
    await page.get_by_role("button", name="Publish").click()
    await page.get_by_role("link", name=title).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(title)
    await expect(page.get_by_label("Subject")).to_be_visible()
    await expect(page.get_by_role("button", name="Run for $0.15")).to_be_visible()
    assert "Write a limerick" not in await page.content()  # Private Mode by default
    # Bad input is explained by the API's own rule.
    await page.goto("/publish")
    await page.get_by_label("Title").fill("Broken")
    await page.get_by_label("Prompt text", exact=True).fill("Hello {{ not valid!! }}")
    await page.get_by_role("button", name="Publish").click()
    await expect(page.locator("#publish-result [role=alert]")).to_be_visible()


async def test_account_profile_password_export_and_deletion(pages, client, register):
    from playwright.async_api import expect

    me = await register()
    page = await pages.open("/account", account=me)
    await expect(page.get_by_text(me["email"])).to_be_visible()
    await page.get_by_label("Display name").fill("Grace H.")
    await page.get_by_label("Bio").fill("I write prompts about ships.")
    await page.get_by_role("button", name="Save profile").click()
    await expect(page.get_by_text("Profile saved.")).to_be_visible()
    profile = (await client.get(f"/creators/{me.handle}")).json()
    assert profile["display_name"] == "Grace H." and profile["bio"].startswith("I write")
    # Password: a wrong current one is explained; the right one signs other devices out.
    await page.get_by_label("Current password").fill("not my password")
    await page.get_by_label("New password (8+ characters)").fill("an even better secret")
    await page.get_by_role("button", name="Change password").click()
    await expect(page.locator("[data-password-form] [data-form-error]")).to_contain_text(
        "not correct"
    )
    await page.get_by_label("Current password").fill(me["password"])
    await page.get_by_role("button", name="Change password").click()
    await expect(page.locator("#flash")).to_contain_text("Password changed")
    assert (await client.get("/me", headers=me.headers)).status_code == 401
    await page.reload()
    await expect(page.get_by_text(me["email"])).to_be_visible()  # still in
    async with page.expect_download() as download:
        await page.get_by_role("button", name="Download my data (JSON)").click()
    exported = (await download.value).path()
    import json
    from pathlib import Path

    data = json.loads(await asyncio.to_thread(Path(str(await exported)).read_text))
    assert data["profile"]["handle"] == me.handle
    await shot(page, "account")
    await page.locator("summary", has_text="Delete my account").click()
    await page.get_by_label(f"Type your handle ({me.handle}) to confirm").fill(me.handle)
    await page.get_by_role("button", name="Delete my account").click()
    await expect(page.locator("#flash")).to_contain_text("deleted")
    await expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    login = await client.post(
        "/auth/login", json={"email": me["email"], "password": "an even better secret"}
    )
    assert login.status_code == 401


async def test_admin_refunds_a_run_and_bans_from_a_room(pages, client, register, new_prompt):
    from playwright.async_api import expect

    from hub.platform.db import fetch

    admin, creator, buyer = await register(), await register(), await register()
    await fetch("UPDATE users SET roles = '{admin}' WHERE id = $1::uuid", admin.id)
    r = await client.post(
        "/auth/login", json={"email": admin["email"], "password": admin["password"]}
    )
    admin_session = {**admin, **r.json()}
    p = await new_prompt(creator, price_cents=30)
    run = await start_run(client, buyer, p["id"], max_tokens=10)
    done = await finished_run(client, buyer, run["id"])
    assert done["status"] == "completed"
    # Others are told the page is for admins.
    other = await pages.open("/admin", account=buyer)
    await expect(other.get_by_text("Only admins can open the admin page.")).to_be_visible()
    page = await pages.open("/admin", account=admin_session)
    await expect(page.get_by_text("Websocket connections (this process)")).to_be_visible()
    await expect(page.get_by_role("link", name="Admin")).to_be_visible()
    await page.get_by_label("Run id").fill(run["id"])
    await page.get_by_role("button", name="Refund").click()
    await expect(page.locator("#refund-result")).to_contain_text(
        f"Refunded {done['charge_cents'] / 100:.2f} USD"
    )
    wallet = (await client.get("/me/wallet", headers=buyer.headers)).json()
    assert wallet["balance_cents"] == 500
    await page.get_by_label("Handle").fill(buyer.handle)
    await page.get_by_role("button", name="Ban").click()
    await expect(page.locator("#ban-result")).to_contain_text(
        f"@{buyer.handle} is banned from #lobby"
    )
    r = await client.post("/rooms/lobby/messages", headers=buyer.headers, json={"text": "hi"})
    assert r.status_code == 403
    await shot(page, "admin")


async def test_direct_messages_unread_counts_and_typing(pages, client, register):
    from playwright.async_api import expect

    ann, ben = await register(display_name="Ann Lee"), await register(display_name="Ben Ito")
    b = await pages.open("/chat", account=ben)
    a = await pages.open(f"/creators/{ben.handle}", account=ann)
    await a.locator("summary", has_text=f"Send @{ben.handle} a message").click()
    await a.get_by_label(f"Message to @{ben.handle}").fill("Hi Ben, loved your haiku!")
    await a.locator("details.dm").get_by_role("button", name="Send").click()
    # Ann lands in the conversation; Ben's room list shows it, with one unread, live.
    await expect(a.locator(".message", has_text="Hi Ben, loved your haiku!")).to_have_count(1)
    conversation = b.locator("[data-my-rooms] a", has_text="Ann Lee")
    await expect(conversation.locator(".count-badge")).to_have_text("1")
    await expect(b.locator("#bell .badge")).to_have_text("1")  # "@ann sent you a message"
    await conversation.click()
    await expect(b.locator(".message", has_text="Hi Ben, loved your haiku!")).to_have_count(1)
    # Reading it clears the count (on every tab).
    await expect(
        b.locator("[data-my-rooms] a", has_text="Ann Lee").locator(".count-badge")
    ).to_have_count(0)
    # Typing shows on the other side, and goes away with the message.
    await a.get_by_label("Your message").press_sequentially("Also, ")
    await expect(b.locator("[data-typing]")).to_have_text("Ann Lee is typing…")
    await a.get_by_label("Your message").press("Enter")
    await expect(b.locator(".message", has_text="Also,")).to_have_count(1)
    await expect(b.locator("[data-typing]")).to_have_text("")
    await shot(b, "direct-messages")
    # Nobody messages themselves: the form is not offered on your own page.
    await a.goto(f"/creators/{ann.handle}")
    await expect(a.locator("summary", has_text="a message")).to_be_hidden()


async def test_the_buyer_cancels_a_run_and_sees_what_it_cost(pages, client, register, new_prompt):
    from playwright.async_api import expect

    creator, buyer = await register(), await register()
    p = await new_prompt(creator, price_cents=20)
    page = await pages.open(f"/prompts/{p['id']}", account=buyer)
    await page.get_by_label("Max output tokens").fill("2000")
    await page.get_by_role("button", name="Run for $0.20").click()
    out = page.locator("[data-run-output]")
    await expect(out).not_to_be_empty(timeout=20_000)
    await page.get_by_role("button", name="Cancel run").click()
    await expect(page.locator("[data-run-status]")).to_have_text("Cancelled", timeout=20_000)
    run_id = await page.locator("[data-run-stream]").get_attribute("data-run-id")
    final = await finished_run(client, buyer, run_id)
    assert final["status"] == "canceled"
    # Output had begun: the full price plus the usage so far, the rest back (the cancel rule).
    receipt = page.locator(".receipt")
    await expect(receipt).to_contain_text(f"charged ${final['charge_cents'] / 100:.2f}")
    assert final["charge_cents"] >= 20
    assert await out.text_content() == final["output"]


async def test_long_lists_page_on_with_show_older(pages, client, register):
    from playwright.async_api import expect

    from hub.platform.db import fetch

    me, fan = await register(), await register()
    # 55 notifications (more than a page of 50), the oldest first.
    await fetch(
        "INSERT INTO notifications (user_id, kind, dedupe_key, actor_id, created_at) "
        "SELECT $1::uuid, 'follower.new', 'test:' || i, $2::uuid, now() - make_interval(mins => i) "
        "FROM generate_series(1, 55) AS i",
        me.id,
        fan.id,
    )
    page = await pages.open("/notifications", account=me)
    items = page.locator(".notification")
    await expect(items).to_have_count(50)
    await page.get_by_role("button", name="Show older notifications").click()
    await expect(items).to_have_count(55)
    await expect(page.get_by_role("button", name="Show older notifications")).to_have_count(0)
    await expect(items.last).to_contain_text(f"@{fan.handle} followed you")
