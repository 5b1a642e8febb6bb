"""Private Mode is a security boundary: a private prompt's template, marked with a unique
string, must appear in no REST response, list, search, error, log line, realtime publication,
another user's export, or the OpenAPI document, for anyone but its owner."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.community.live import subscriber
from tests.conftest import unique
from tests.prompts.helpers import create_prompt


class LogRecorder:
    """Stands in for a module's structlog logger and keeps every call, at every level."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __getattr__(self, level: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            self.lines.append(f"{level} {args!r} {kwargs!r}")

        return record

    def bind(self, **kwargs: Any) -> LogRecorder:
        return self


@pytest.fixture
def recorded_logs(monkeypatch) -> LogRecorder:
    import hub.community.feed
    import hub.community.notifications
    import hub.community.reviews
    import hub.community.service
    import hub.outbox
    import hub.platform.middleware
    import hub.prompts.service

    recorder = LogRecorder()
    for module in (
        hub.prompts.service,
        hub.outbox,
        hub.community.feed,
        hub.community.reviews,
        hub.community.service,
        hub.platform.middleware,
    ):
        monkeypatch.setattr(module, "log", recorder)
    return recorder


async def test_private_template_never_leaks(
    client, register, hub_server, recorded_logs, capfd, grant_completed_run
):
    marker = unique("PRIVMARK")
    marker2 = unique("PRIVMARKTWO")
    owner, fan, buyer = await register(), await register(), await register()
    await client.post(f"/creators/{owner.handle}/follow", headers=fan.headers)
    ws_url = hub_server.replace("http://", "ws://") + "/connection/websocket"
    responses: list[str] = []
    # subscribed before the prompt exists, so the live feed item cannot race the subscription
    ws_fan, rec_fan = await subscriber(ws_url, fan.token, f"feed#{fan.id}")

    async def call(method: str, url: str, **kw: Any):
        r = await client.request(method, url, **kw)
        responses.append(f"{method} {url} {r.status_code} {r.headers} {r.text}")
        return r

    p = await create_prompt(
        client,
        owner,
        title="A private prompt",
        private_mode=True,
        template=f"Hidden instructions {marker}: write about {{{{topic}}}} {{{{poet}}}}",
        tags=["secret-sauce"],
    )
    assert marker in p["template"]  # the owner sees it
    pid = p["id"]
    ws_anon, rec_anon = await subscriber(ws_url, "", f"prompts:{pid}")
    try:
        # a new version, a sample, a review, and every read path, as others
        r = await client.patch(
            f"/prompts/{pid}",
            headers=owner.headers,
            json={"template": f"Now {marker2} about {{{{topic}}}}", "title": "Renamed prompt"},
        )
        assert marker2 in r.json()["template"]
        await client.post(
            f"/prompts/{pid}/samples", headers=owner.headers, json={"output": "A sample output"}
        )
        await grant_completed_run(buyer.id, pid)
        await call("POST", f"/prompts/{pid}/reviews", headers=buyer.headers, json={"rating": 4})

        for headers in ({}, fan.headers, buyer.headers):
            await call("GET", f"/prompts/{pid}", headers=headers)
            await call("GET", "/prompts", params={"tag": "secret-sauce"}, headers=headers)
            await call("GET", "/prompts", params={"q": "private prompt"}, headers=headers)
            await call("GET", "/prompts", params={"q": marker}, headers=headers)
            await call("GET", "/prompts", params={"creator": owner.handle, "sort": "top_rated"})
            await call("GET", f"/creators/{owner.handle}", headers=headers)
            await call("GET", f"/prompts/{pid}/samples", headers=headers)
            await call("GET", f"/prompts/{pid}/reviews", headers=headers)
        # errors others can provoke
        await call("GET", f"/prompts/{pid}/versions", headers=fan.headers)
        await call("PATCH", f"/prompts/{pid}", headers=fan.headers, json={"title": "Hijack"})
        await call("PATCH", f"/prompts/{pid}", headers=fan.headers, json={"template": "{{ x y }}"})
        await call("DELETE", f"/prompts/{pid}", headers=fan.headers)
        await call("POST", f"/prompts/{pid}/samples", headers=fan.headers, json={"output": "x"})
        await call("POST", f"/prompts/{pid}/reviews", headers=fan.headers, json={"rating": 1})
        await call("GET", "/me/notifications", headers=fan.headers)
        await call("GET", "/me/export", headers=fan.headers)
        await call("GET", "/me/export", headers=buyer.headers)
        await call("GET", "/../../schema/openapi.json")

        async def feed_has_both():
            r = await call("GET", "/me/feed", headers=fan.headers)
            return len(r.json()["items"]) >= 2

        for _ in range(200):
            if await feed_has_both():
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("feed fan-out did not arrive")
        await rec_anon.wait_for(lambda: len(rec_anon.pubs) >= 2)
        await rec_fan.wait_for(lambda: len(rec_fan.pubs) >= 2)

        # archived: the owner-only view must still hide it from others
        await client.delete(f"/prompts/{pid}", headers=owner.headers)
        await call("GET", f"/prompts/{pid}", headers=fan.headers)
        await call("GET", f"/prompts/{pid}/reviews", headers=fan.headers)
        await asyncio.sleep(0.2)
    finally:
        await ws_anon.disconnect()
        await ws_fan.disconnect()

    publications = json.dumps([rec_anon.data(), rec_fan.data()])
    assert "prompt.updated" in publications and "feed.item" in publications
    captured = capfd.readouterr()
    haystacks = {
        "REST responses": "\n".join(responses),
        "realtime publications": publications,
        "log lines": "\n".join(recorded_logs.lines) + captured.out + captured.err,
    }
    assert any("A private prompt" in r or "Renamed prompt" in r for r in responses)
    for where, text in haystacks.items():
        for secret in (marker, marker2, "Hidden instructions"):
            assert secret not in text, f"private template leaked in {where}"
    # and the owner's own export does hold it (it is theirs)
    own = await client.get("/me/export", headers=owner.headers)
    assert marker in own.text and marker2 in own.text
