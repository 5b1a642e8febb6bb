"""The marketplace's depth in the browser: sample images, "more like this", sign-in providers,
receipts. Every wait is for something a person would see."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.media.images import png
from tests.oauth.fixtures import fake_idp, oauth_env  # noqa: F401 - fixtures
from tests.subscriptions.conftest import billing, billing_fake_server  # noqa: F401 - fixtures
from tests.web.conftest import needs_browser, shot

pytestmark = needs_browser


async def test_sample_images_show_in_the_prompt_gallery(pages, client, register, new_prompt):
    creator = await register()
    prompt = await new_prompt(creator, private_mode=False)
    sample = (
        await client.post(
            f"/prompts/{prompt['id']}/samples",
            json={"output": "Leaves drift on the pond", "title": "Autumn"},
            headers=creator.headers,
        )
    ).json()
    media = (
        await client.post(
            f"/prompts/{prompt['id']}/samples/{sample['id']}/media",
            files={"image": ("pond.png", png(800, 400, mode="RGB"), "image/png")},
            data={"alt": "A pond with floating leaves"},
            headers=creator.headers,
        )
    ).json()
    page: Any = await pages.open(f"/prompts/{prompt['id']}")
    img = page.get_by_role("img", name="A pond with floating leaves")
    await img.wait_for()
    await page.wait_for_function(
        "() => { const i = document.querySelector('.sample-gallery img'); "
        "return i && i.complete && i.naturalWidth === 480; }"
    )
    link = page.locator(".sample-gallery a")
    assert await link.get_attribute("href") == media["url"]
    await shot(page, "prompt-gallery")


async def test_more_like_this_and_for_you(pages, client, register, new_prompt, worker):
    from tests.recommendations.test_recommendations import refresh, word

    tag = word()
    creator, me = await register(), await register()
    first = await new_prompt(creator, title=f"Sonnet maker {word()}", tags=[tag, "verse"])
    second = await new_prompt(creator, title=f"Limerick maker {word()}", tags=[tag, "verse"])
    await client.post(f"/creators/{creator.handle}/follow", headers=me.headers)
    await refresh(worker)

    page: Any = await pages.open(f"/prompts/{first['id']}")
    similar = page.locator("#similar")
    await similar.get_by_role("link", name=second["title"]).wait_for()
    await shot(page, "prompt-more-like-this")

    home: Any = await pages.open("/", account=me)
    section = home.locator("section[aria-labelledby=for-you-h]")
    await section.get_by_role("link", name=first["title"]).wait_for()
    await section.get_by_text(f"you follow @{creator.handle}").first.wait_for()
    # Signed out, the section is not there at all.
    anon: Any = await pages.open("/")
    assert not await anon.locator("section[aria-labelledby=for-you-h]").is_visible()


async def test_sign_in_with_google_from_the_sign_in_page(pages, client, oauth_env):  # noqa: F811
    from tests.oauth.test_oauth import google_user

    user = google_user(name="Ada Lovelace")
    oauth_env.sign_in_as(**user)
    page: Any = await pages.open("/signin?next=/wallet")
    await page.get_by_role("button", name="Continue with GitHub").wait_for()
    await page.get_by_role("button", name="Continue with Google").click()
    # The fake provider approves at once and sends the browser back to the callback page.
    await page.wait_for_url(lambda url: urlsplit(url).path == "/wallet")
    session = await page.evaluate("() => JSON.parse(localStorage.getItem('bp.session'))")
    assert session["user"]["email"] == user["email"]
    # Signed in: the wallet shows the starter credits of a verified address.
    await page.get_by_text("$5.00").first.wait_for()
    await shot(page, "oauth-signed-in")

    account: Any = await pages.open("/account", context=page.context)
    await account.get_by_role("button", name="Unlink Google").wait_for()
    await account.get_by_role("button", name="Link GitHub").wait_for()


async def test_a_callback_not_started_here_is_refused(pages, oauth_env):  # noqa: F811
    page: Any = await pages.open("/auth/callback/google?code=abc&state=forged")
    await page.get_by_text("not started in this browser tab").wait_for()
    session = await page.evaluate("() => localStorage.getItem('bp.session')")
    assert session is None


async def test_wallet_links_to_a_printable_receipt(pages, client, register, new_prompt):
    from tests.runs.helpers import start, wait_run

    creator, buyer = await register(), await register()
    prompt = await new_prompt(creator, price_cents=40, private_mode=False)
    run = await wait_run(
        client, buyer, (await start(client, buyer, prompt["id"], max_tokens=5)).json()["id"]
    )
    page: Any = await pages.open("/wallet", account=buyer)
    await page.get_by_role("link", name="receipt").first.click()
    await page.get_by_role("heading", name=f"Run of “{prompt['title']}”").wait_for()
    total = page.locator("[data-receipt-total]")
    assert (await total.inner_text()).startswith(f"${run['charge_cents'] / 100:.2f}")
    await page.get_by_role("button", name="Print or save as PDF").wait_for()
    await page.emulate_media(media="print")
    assert not await page.locator("nav.tabs").is_visible()
    await shot(page, "receipt")

    dash: Any = await pages.open("/dashboard", account=creator)
    await dash.get_by_role("link", name="Receipt").first.click()
    await dash.get_by_role("heading", name=f"Sale of “{prompt['title']}”").wait_for()
    assert "$0.32" in await dash.locator("[data-receipt-total]").inner_text()


async def test_subscribe_on_the_creator_page_turns_active_when_stripe_says_paid(
    pages,
    client,
    register,
    billing,  # noqa: F811
):
    from tests.subscriptions.test_subscriptions import offer_plan, send, stripe_sub

    creator, buyer = await register(), await register()
    await offer_plan(client, creator, price_cents=700, runs_included=3)
    page: Any = await pages.open(f"/creators/{creator.handle}", account=buyer)
    await page.get_by_text("$7.00 a month", exact=True).wait_for()
    await page.get_by_role("button", name="Subscribe for $7.00 a month").click()
    await page.get_by_text("waiting for the first payment").wait_for()
    mine = (await client.get("/me/subscriptions", headers=buyer.headers)).json()["items"][0]
    # Stripe reports the invoice paid (signed webhook): the page changes by itself.
    await send(client, billing.pay(await stripe_sub(mine["id"])))
    await page.get_by_text("0 of 3 runs used this month").wait_for()
    await shot(page, "creator-subscribed")

    dash: Any = await pages.open("/dashboard", account=creator)
    plan = dash.locator("#my-plan")
    await plan.get_by_text("1 subscriber").wait_for()
    await plan.get_by_label("Runs included per month").fill("5")
    await plan.get_by_role("button", name="Update plan").click()
    await plan.get_by_text("for 5 runs of your prompts").wait_for()


async def test_the_creator_adds_and_removes_a_sample_image_on_the_prompt_page(
    pages, client, register, new_prompt, tmp_path
):
    creator, visitor = await register(), await register()
    prompt = await new_prompt(creator, private_mode=True)
    await client.post(
        f"/prompts/{prompt['id']}/samples",
        json={"output": "Rain on the roofs", "title": "Rainy"},
        headers=creator.headers,
    )
    picture = tmp_path / "rain.png"
    picture.write_bytes(png(640, 320, mode="RGB"))
    page: Any = await pages.open(f"/prompts/{prompt['id']}", account=creator)
    tools = page.locator(".sample-tools")
    await tools.get_by_label("Image (PNG, JPEG or WebP, up to 5 MB)").set_input_files(str(picture))
    await tools.get_by_label("Describe it (for people who cannot see it)").fill("Rain on roofs")
    await tools.get_by_role("button", name="Add image").click()
    await tools.get_by_role("img", name="Rain on roofs").wait_for()
    await tools.get_by_text("1 of 4 images").wait_for()
    # Visitors see it in the gallery, and no tools.
    other: Any = await pages.open(f"/prompts/{prompt['id']}", account=visitor)
    await other.locator(".sample-gallery").get_by_role("img", name="Rain on roofs").wait_for()
    assert await other.locator(".sample-tools").count() == 0
    await tools.get_by_role("button", name="Remove").click()
    await tools.get_by_text("0 of 4 images").wait_for()
