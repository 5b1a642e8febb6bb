"""The marketplace's depth in the browser: sample images, "more like this", sign-in providers,
receipts. Every wait is for something a person would see."""

from __future__ import annotations

from typing import Any

from tests.media.images import png
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
