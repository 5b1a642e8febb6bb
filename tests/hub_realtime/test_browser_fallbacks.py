"""The HTTP fallbacks in a real browser: centrifuge-js (the bundle the web client loads) in
headless Chromium, forced onto HTTP streaming or SSE as behind a websocket-blocking proxy:
its own fetch streaming and EventSource, same-origin, against the real hub."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import unique
from tests.web.conftest import browser, needs_browser  # noqa: F401 - the session's Chromium

pytestmark = needs_browser

SCENARIO = """
async ({transport, token, channel}) => {
  const base = window.location.origin;
  const c = new Centrifuge(
    [{transport, endpoint: `${base}/connection/${transport}`}],
    {token, emulationEndpoint: `${base}/emulation`, minReconnectDelay: 50},
  );
  const sub = c.newSubscription(channel, {joinLeave: true});
  const pubs = [];
  sub.on('publication', (ctx) => pubs.push({data: ctx.data, user: ctx.info && ctx.info.user}));
  sub.subscribe();
  c.connect();
  await sub.ready(10000);
  await sub.publish({text: 'from the browser'});
  const deadline = Date.now() + 10000;
  while (pubs.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const presence = await sub.presence();
  const transportName = c._transport ? c._transport.name() : null;
  c.disconnect();
  return {pubs, presence: Object.values(presence.clients).map((x) => x.user), transportName};
}
"""


@pytest.mark.parametrize("transport", ["http_stream", "sse"])
async def test_chromium_chats_over_http_fallbacks(
    browser: Any,  # noqa: F811
    hub_server: str,
    client: Any,
    register: Any,
    transport: str,
) -> None:
    user = await register()
    slug = unique("br-")
    await client.post("/rooms", headers=user.headers, json={"slug": slug, "title": "Browser"})
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(hub_server + "/healthz")
        await page.add_script_tag(url=hub_server + "/vendor/centrifuge/centrifuge.js")
        result = await page.evaluate(
            SCENARIO, {"transport": transport, "token": user.token, "channel": f"rooms:{slug}"}
        )
    finally:
        await context.close()
    assert result["transportName"] == transport
    assert result["pubs"][0]["data"]["text"] == "from the browser"
    assert result["pubs"][0]["user"] == user.id
    assert result["presence"] == [user.id]
    assert errors == []
