"""A buyer starts a run and watches it stream; the money moves exactly as docs/money.md says."""

from __future__ import annotations

from typing import Any

from centrifuge import Client, PublicationContext, SubscriptionEventHandler

from hub.billing.creators import split_price
from hub.providers.demo import demo_output
from tests.billing.invariants import assert_ledger_invariants
from tests.runs.helpers import (
    TERMINAL_TYPES,
    LiveRecorder,
    eventually,
    make_prompt,
    run_transactions,
    start,
    wait_run,
    wallet,
)


class Pubs(SubscriptionEventHandler):
    def __init__(self) -> None:
        self.pubs: list[tuple[int, dict[str, Any]]] = []

    async def on_publication(self, ctx: PublicationContext) -> None:
        self.pubs.append((ctx.pub.offset, ctx.pub.data))


def ws_url(hub_server: str) -> str:
    return hub_server.replace("http://", "ws://") + "/connection/websocket"


async def test_run_streams_and_settles_exactly_once(client, register, hub_server):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=40)
    pid = prompt["id"]

    r = await client.get(f"/prompts/{pid}/estimate", params={"max_tokens": 40})
    assert r.status_code == 200, r.text
    est = r.json()
    assert (est["price_cents"], est["usage_cap_cents"], est["hold_cents"]) == (40, 1, 41)

    sdk = Client(ws_url(hub_server), token=buyer.token, timeout=5.0, proxy=None)
    await sdk.connect()
    try:
        with LiveRecorder() as rec:
            r = await start(
                client,
                buyer,
                pid,
                inputs={"topic": "green tea"},
                max_tokens=40,
                visibility="public",
            )
            assert r.status_code == 202, r.text
            accepted = r.json()
            run_id = accepted["id"]
            assert accepted["status"] == "queued" and accepted["channel"] == f"runs:{run_id}"
            assert accepted["hold_cents"] == 41 and accepted["price_cents"] == 40

            live_pubs = Pubs()
            sub = sdk.new_subscription(f"runs:{run_id}", events=live_pubs)
            await sub.subscribe()
            await sub.ready(5)

            run = await wait_run(client, buyer, run_id)

            # Publications made right after the terminal commit: wait for them, not for a time.
            def after_commit_events_landed() -> bool:
                counts = rec.on(f"prompts:{pid}", "prompt.live_runs")
                return (
                    any(e["run_id"] == run_id for e in rec.on("live:runs", "live.run_ended"))
                    and bool(rec.on(f"sales#{creator.id}", "sale.created"))
                    and bool(rec.on(f"notifications#{buyer.id}", "wallet.updated"))
                    and bool(counts)
                    and counts[-1]["live_runs"] == 0
                )

            await eventually(after_commit_events_landed, what="the after-commit events")
            await eventually(
                lambda: live_pubs.pubs and live_pubs.pubs[-1][1]["type"] == "run.completed",
                what="the live subscriber receiving run.completed",
            )
    finally:
        history = await sdk.history(f"runs:{run_id}", limit=10000)
        await sdk.disconnect()

    expected = demo_output("Write a tiny story about green tea.", 40, run_id)
    assert run["status"] == "completed", run
    assert run["output"] == expected
    assert run["usage"] == {"input_tokens": 8, "output_tokens": 40, "cost_cents": 1}
    assert (run["charge_cents"], run["refunded_cents"]) == (41, 0)

    # The channel, read through the official SDK: the whole run in order, one terminal event.
    pubs = [(p.offset, p.data) for p in history.publications]
    offsets = [o for o, _ in pubs]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    types = [d["type"] for _, d in pubs]
    assert types[0] == "run.queued" and types[1] == "run.started"
    assert [t for t in types if t in TERMINAL_TYPES] == ["run.completed"]
    assert types[-1] == "run.completed"
    deltas = [d for _, d in pubs if d["type"] == "run.delta"]
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert "".join(d["text"] for d in deltas) == expected
    completed = pubs[-1][1]
    # A public run: its channel says what happened, never what the buyer paid.
    assert completed["usage"]["output_tokens"] == 40 and "cost_cents" not in completed["usage"]
    assert "charge_cents" not in completed
    # What the live subscriber saw is exactly the tail of that stream.
    assert live_pubs.pubs == [p for p in pubs if p[0] >= live_pubs.pubs[0][0]]

    # GET /runs/{id} says which position its output reflects: the terminal event (recorded
    # once its publication returns, just after the commit).
    async def reflects_terminal() -> bool:
        r = await client.get(f"/runs/{run_id}", headers=buyer.headers)
        return r.json()["stream"] == {"offset": pubs[-1][0], "epoch": history.epoch}

    await eventually(reflects_terminal, what="the run's stream position reaching run.completed")

    # Money: hold −41; creator +32; platform fee +8; usage +1; wallet gets the rest (0).
    # The buyer pays with starter credits, so the hold is promotional and so is the earning
    # (payable: well within the creator's monthly cap).
    fee, earning = split_price(40)
    assert (fee, earning) == (8, 32)
    txs = await run_transactions(run_id)
    assert txs["run_hold"] == {"promo_wallet": -41, "promo_hold": 41}
    assert txs["run_settle"] == {
        "promo_hold": -41,
        "usage_revenue": 1,
        "platform_fees": 8,
        "promo_earnings_pending": 32,
    }
    assert await wallet(client, buyer) == {
        "balance_cents": 459,
        "held_cents": 0,
        "currency": "USD",
        "spending_limit_cents": 5000,
        "spent_today_cents": 41,
        "promo_balance_cents": 459,
    }
    r = await client.get("/creator/earnings", headers=creator.headers)
    assert r.json()["pending_cents"] == 32 and r.json()["lifetime_cents"] == 32
    r = await client.get("/creator/sales", headers=creator.headers)
    [sale] = r.json()["items"]
    assert (sale["run_id"], sale["gross_cents"], sale["fee_cents"], sale["earning_cents"]) == (
        run_id,
        40,
        8,
        32,
    )

    # The other channels: the wallet, the creator's sale, the prompt counters, the live index.
    assert rec.on(f"notifications#{buyer.id}", "wallet.updated")[-1]["balance_cents"] == 459
    [sale_ev] = rec.on(f"sales#{creator.id}", "sale.created")
    assert sale_ev["run_id"] == run_id and sale_ev["earning_cents"] == 32
    counts = rec.on(f"prompts:{pid}", "prompt.live_runs")
    assert [c["live_runs"] for c in counts] == [1, 0] and counts[-1]["run_count"] == 1
    assert [e["type"] for e in rec.on("live:runs") if e["run_id"] == run_id] == [
        "live.run_started",
        "live.run_ended",
    ]
    r = await client.get(f"/prompts/{pid}")
    assert r.json()["run_count"] == 1 and r.json()["live_runs"] == 0

    r = await client.get("/me/runs", headers=buyer.headers)
    assert r.json()["items"][0]["id"] == run_id
    r = await client.get("/live/runs")
    assert run_id not in [i["id"] for i in r.json()["items"]]
    await assert_ledger_invariants()


async def test_late_joiner_gets_exactly_the_output(client, register, hub_server):
    """GET /runs/{id} mid-run, then history since its stream position: nothing missed or doubled."""
    buyer = await register()
    creator = await register()
    prompt = await make_prompt(client, creator, price_cents=0)
    r = await start(client, buyer, prompt["id"], max_tokens=1200, visibility="public")
    run_id = r.json()["id"]
    mid = await wait_run(
        client, None, run_id, until=lambda run: run["output"] and run["status"] == "running"
    )
    assert mid["stream"] is not None
    final = await wait_run(client, None, run_id)
    sdk = Client(ws_url(hub_server), timeout=5.0, proxy=None)  # anonymous: the run is public
    await sdk.connect()
    try:
        from centrifuge import StreamPosition

        rest = await sdk.history(
            f"runs:{run_id}",
            limit=10000,
            since=StreamPosition(mid["stream"]["offset"], mid["stream"]["epoch"]),
        )
    finally:
        await sdk.disconnect()
    tail = "".join(p.data["text"] for p in rest.publications if p.data["type"] == "run.delta")
    assert mid["output"] + tail == final["output"]
    assert final["status"] == "completed" and len(final["output"]) > len(mid["output"])
    await assert_ledger_invariants()
