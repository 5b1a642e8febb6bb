"""Recovery through the hub: a late joiner of a run gets the whole run in one step.

`recover: true, offset: 0, epoch: ""` recovers from the start of the stream, as in Centrifugo:
the subscribe reply carries every publication so far and the live tail follows, in order.
"""

from __future__ import annotations

from centrifuge import Client, StreamPosition

from tests.hub_realtime.conftest import needs_node, run_js
from tests.realtime.sdk_helpers import Recorder
from tests.runs.helpers import TERMINAL_TYPES, make_prompt, start, wait_run


async def _run_in_progress(client, register) -> tuple[object, str]:
    creator, buyer = await register(), await register()
    prompt = await make_prompt(client, creator, price_cents=5)
    r = await start(client, buyer, prompt["id"], max_tokens=120)
    assert r.status_code in (200, 201, 202), r.text
    run_id = r.json()["id"]
    # Join mid-run when possible; a run that already ended must recover the same way.
    await wait_run(client, buyer, run_id, until=lambda run: run["status"] != "queued")
    return buyer, run_id


def _assert_whole_run(events: list[dict], final: dict) -> None:
    assert events[0]["type"] == "run.queued"
    terminal = [e for e in events if e["type"] in TERMINAL_TYPES]
    assert [e["type"] for e in terminal] == ["run.completed"]
    deltas = [e for e in events if e["type"] == "run.delta"]
    assert [d["seq"] for d in deltas] == list(
        range(deltas[0]["seq"], deltas[0]["seq"] + len(deltas))
    )
    assert "".join(d["text"] for d in deltas) == final["output"]


async def test_python_sdk_late_joiner_recovers_the_whole_run(client, register, ws_url):
    buyer, run_id = await _run_in_progress(client, register)
    c = Client(ws_url, token=buyer.token, proxy=None)
    rec = Recorder()

    async def from_the_start(channel: str) -> StreamPosition:
        return StreamPosition(offset=0, epoch="")

    sub = c.new_subscription(f"runs:{run_id}", rec, get_state=from_the_start)
    await c.connect()
    await sub.subscribe()
    try:
        await rec.wait_for(lambda: any(d["type"] in TERMINAL_TYPES for d in rec.data()), within=20)
        assert rec.subscribed[0].recovered and rec.subscribed[0].was_recovering
        assert rec.offsets() == list(range(1, len(rec.pubs) + 1))
        final = await wait_run(client, buyer, run_id)
        _assert_whole_run(rec.data(), final)
    finally:
        await c.disconnect()


@needs_node
async def test_centrifuge_js_late_joiner_recovers_the_whole_run(client, register, ws_url):
    buyer, run_id = await _run_in_progress(client, register)
    for fmt in ("json", "protobuf"):
        result = await run_js(
            "late_joiner",
            {"url": ws_url, "token": buyer.token, "channel": f"runs:{run_id}", "format": fmt},
        )
        assert result["subscribed"][0] == {"wasRecovering": True, "recovered": True}
        assert result["offsets"] == list(range(1, len(result["pubs"]) + 1))
        _assert_whole_run(result["pubs"], await wait_run(client, buyer, run_id))
