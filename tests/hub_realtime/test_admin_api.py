"""The realtime server API for admins (/api/v1/admin/realtime/...), seen through the SDK."""

from __future__ import annotations

from centrifuge import ClientState, SubscriptionState

from hub.platform.db import fetch
from tests.conftest import unique
from tests.problems import assert_problem
from tests.realtime.sdk_helpers import Recorder, make_client

BASE = "/admin/realtime"


async def _admin(register):
    acct = await register()
    await fetch("UPDATE users SET roles = '{admin}' WHERE id = $1::uuid", acct.id)
    return acct


async def test_only_admins_and_only_hub_channels(client, register):
    user, admin = await register(), await _admin(register)
    calls = [
        ("post", "/publish", {"channel": "live:runs", "data": {"type": "x"}}),
        ("post", "/unsubscribe", {"user_id": user.id, "channel": "rooms:lobby"}),
        ("post", "/disconnect", {"user_id": user.id}),
        ("get", "/presence?channel=rooms:lobby", None),
        ("get", "/history?channel=rooms:lobby", None),
        ("post", "/history_remove", {"channel": "rooms:lobby"}),
        ("get", "/nodes", None),
    ]
    for method, path, body in calls:
        kw = {"json": body} if body is not None else {}
        r = await getattr(client, method)(BASE + path, headers=user.headers, **kw)
        assert r.status_code == 403, (path, r.text)
        assert (await getattr(client, method)(BASE + path, **kw)).status_code == 401
    r = await client.post(
        BASE + "/publish",
        headers=admin.headers,
        json={"channel": "rooms:LOBBY", "data": {"type": "x"}},
    )
    assert_problem(r, 400, "channel")
    r = await client.post(
        BASE + "/unsubscribe",
        headers=admin.headers,
        json={"user_id": user.id, "channel": "rooms:lobby", "code": 3000},
    )
    assert r.status_code == 400


async def test_admin_publishes_unsubscribes_disconnects_and_reads(client, register, ws_url):
    admin, user = await _admin(register), await register()
    slug = unique("adm-")
    await client.post("/rooms", headers=user.headers, json={"slug": slug, "title": "Adm"})
    channel = f"rooms:{slug}"
    c = make_client(ws_url, token=user.token)
    await c.connect()
    events = c.test_events  # type: ignore[attr-defined]
    rec = Recorder()
    sub = c.new_subscription(channel, rec)
    await sub.subscribe()
    try:
        await sub.ready(5)
        h = admin.headers
        r = await client.post(
            BASE + "/publish", headers=h, json={"channel": channel, "data": {"type": "notice"}}
        )
        assert r.status_code == 200, r.text
        assert r.json()["offset"] == 1 and r.json()["epoch"]
        await rec.wait_for(lambda: rec.data() == [{"type": "notice"}])

        r = await client.get(BASE + "/presence", headers=h, params={"channel": channel})
        body = r.json()
        assert body["num_clients"] == 1 and body["num_users"] == 1
        assert body["clients"][0]["user"] == user.id
        assert body["clients"][0]["conn_info"]["handle"] == user.handle

        r = await client.get(BASE + "/history", headers=h, params={"channel": channel})
        assert [p["data"] for p in r.json()["publications"]] == [{"type": "notice"}]

        r = await client.get(BASE + "/nodes", headers=h)
        nodes = r.json()["nodes"]
        assert nodes and r.json()["connections"] >= 1
        assert all(n["channels"] >= 0 and n["uptime_seconds"] >= 0 for n in nodes)
        assert any(n["connections"] >= 1 and n["subscriptions"] >= 1 for n in nodes)

        r = await client.post(BASE + "/history_remove", headers=h, json={"channel": channel})
        assert r.json() == {"channel": channel, "removed": 1}
        res = await c.history(channel, limit=-1)
        assert res.publications == [] and res.offset == 1  # the position stays

        r = await client.post(
            BASE + "/unsubscribe",
            headers=h,
            json={"user_id": user.id, "channel": channel, "code": 2200, "reason": "moderation"},
        )
        assert r.status_code == 204, r.text
        await rec.wait_for(lambda: rec.unsubscribed)
        assert (rec.unsubscribed[0].code, rec.unsubscribed[0].reason) == (2200, "moderation")
        assert sub.state == SubscriptionState.UNSUBSCRIBED

        r = await client.post(BASE + "/disconnect", headers=h, json={"user_id": user.id})
        assert r.status_code == 204
        await events.wait_for(lambda: any(d.code == 3503 for d in events.disconnects))
        assert c.state == ClientState.DISCONNECTED
    finally:
        await c.disconnect()
