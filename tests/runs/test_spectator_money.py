"""Anyone may watch a public run anonymously, so nothing a spectator receives tells what the
buyer paid: the money goes to the buyer's own channel and REST view. Watched through the
official centrifuge-python SDK."""

from __future__ import annotations

from typing import Any

from centrifuge import Client

from tests.hub_realtime.test_server_subs import ServerEvents
from tests.realtime.sdk_helpers import Recorder, make_client
from tests.runs.helpers import eventually, make_prompt, start, wait_run

MONEY = {"charge_cents", "refunded_cents", "price_cents", "hold_cents", "cost_cents"}


def _money_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {k for k in value if k in MONEY}
        for v in value.values():
            found |= _money_keys(v)
        return found
    if isinstance(value, list):
        return set().union(*(_money_keys(v) for v in value)) if value else set()
    return set()


async def test_spectators_of_a_public_run_never_see_money(client, register, hub_server):
    ws_url = hub_server.replace("http://", "ws://") + "/connection/websocket"
    creator, buyer = await register(), await register()
    prompt = await make_prompt(client, creator, price_cents=70)

    spectator = make_client(ws_url)  # anonymous
    owner_events = ServerEvents()
    owner = Client(ws_url, token=buyer.token, events=owner_events, proxy=None)
    await spectator.connect()
    await owner.connect()
    recorders: dict[str, Recorder] = {}
    try:
        for channel in ("live:runs", f"prompts:{prompt['id']}"):
            recorders[channel] = Recorder()
            sub = spectator.new_subscription(channel, recorders[channel])
            await sub.subscribe()
            await sub.ready(5)
        await owner_events.wait_for(
            lambda: f"notifications#{buyer.id}" in {s.channel for s in owner_events.subscribed}
        )
        r = await start(client, buyer, prompt["id"], max_tokens=300, visibility="public")
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        channel = f"runs:{run_id}"
        recorders[channel] = Recorder()
        sub = spectator.new_subscription(channel, recorders[channel])
        await sub.subscribe()
        await sub.ready(5)
        done = await wait_run(client, buyer, run_id)
        assert done["status"] == "completed" and done["charge_cents"] > 70
        run_rec = recorders[channel]
        await eventually(
            lambda: any(d.get("type") == "run.completed" for d in run_rec.data()),
            15,
            "run.completed on the run's channel",
        )
        await eventually(
            lambda: any(d.get("type") == "live.run_ended" for d in recorders["live:runs"].data()),
            15,
            "live.run_ended on live:runs",
        )
        await eventually(
            lambda: [d for c, d in owner_events.pubs if d.get("type") == "run.charged"],
            15,
            "run.charged to the owner",
        )
        charged = [d for c, d in owner_events.pubs if d.get("type") == "run.charged"]
    finally:
        await spectator.disconnect()
        await owner.disconnect()

    # The spectator saw the run stream and end, and no money on any public channel.
    completed = next(d for d in run_rec.data() if d["type"] == "run.completed")
    assert completed["usage"]["output_tokens"] == 300 and "cost_cents" not in completed["usage"]
    for name, rec in recorders.items():
        assert rec.data(), name
        assert _money_keys(rec.data()) == set(), (name, rec.data())
    # The channel's history (what a late spectator reads) is as clean.
    late = make_client(ws_url)
    await late.connect()
    try:
        sub = late.new_subscription(channel, Recorder())
        await sub.subscribe()
        await sub.ready(5)
        history = await sub.history(limit=-1)
        assert history.publications and _money_keys([p.data for p in history.publications]) == set()
    finally:
        await late.disconnect()

    # The buyer got the money facts on their own channel, and REST shows them only to them.
    [money] = charged
    assert (money["run_id"], money["status"], money["charge_cents"]) == (
        run_id,
        "completed",
        done["charge_cents"],
    )
    assert money["usage"]["cost_cents"] == done["usage"]["cost_cents"]
    anonymous = (await client.get(f"/runs/{run_id}")).json()
    other = (await client.get(f"/runs/{run_id}", headers=creator.headers)).json()
    for view in (anonymous, other):
        assert view["output"] == done["output"]
        assert {k: view[k] for k in ("price_cents", "hold_cents", "charge_cents")} == dict.fromkeys(
            ("price_cents", "hold_cents", "charge_cents")
        )
        assert view["refunded_cents"] is None and view["usage"]["cost_cents"] is None
    listed = (await client.get("/me/runs", headers=buyer.headers)).json()["items"][0]
    assert listed["price_cents"] == 70 and listed["usage"]["cost_cents"] is not None


async def test_a_private_runs_channel_keeps_the_buyers_money(client, register):
    """Only the buyer can watch a private run, so its events keep the money fields."""
    from tests.runs.helpers import LiveRecorder

    creator, buyer = await register(), await register()
    prompt = await make_prompt(client, creator, price_cents=30)
    with LiveRecorder() as rec:
        r = await start(client, buyer, prompt["id"], max_tokens=10)
        done = await wait_run(client, buyer, r.json()["id"])
        await rec.wait_for(f"notifications#{buyer.id}", "run.charged")
    [terminal] = rec.terminals(done["id"])
    assert terminal["charge_cents"] == done["charge_cents"]
