"""Exactly-once money when things break: dead workers, duplicated jobs, lost publications."""

from __future__ import annotations

import asyncio
import signal
import uuid

import pytest
from centrifuge import Client

from hub.providers.demo import demo_output
from hub.runs import executor, jobs, lifecycle, reaper
from hub.runs.jobs import jobs_routed_to
from hub.runs.schemas import RunRequest
from hub.runs.start import start_run
from tests.billing.invariants import assert_ledger_invariants
from tests.runs.helpers import (
    TERMINAL_TYPES,
    LiveRecorder,
    make_prompt,
    run_transactions,
    start,
    wait_run,
    wallet,
)
from tests.runs.test_happy_path import ws_url
from tests.runs.workerproc import worker_process

NOBODY = "arq:test-no-worker"  # a queue no worker consumes: runs stay queued


async def _queued_run(client, register, price: int = 20, max_tokens: int = 8):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=price)
    with jobs_routed_to(NOBODY):
        run = await start_run(
            buyer.id,
            prompt["id"],
            RunRequest(inputs={"topic": "tea"}, max_tokens=max_tokens),
            str(uuid.uuid4()),
        )
    return creator, buyer, prompt, run


async def _history(hub_server: str, run_id: str, token: str) -> list[dict]:
    sdk = Client(ws_url(hub_server), token=token, timeout=5.0, proxy=None)
    await sdk.connect()
    try:
        result = await sdk.history(f"runs:{run_id}", limit=10000)
    finally:
        await sdk.disconnect()
    return [p.data for p in result.publications]


def _assert_one_terminal_and_output(events: list[dict], output: str, terminal: str) -> None:
    assert [e["type"] for e in events if e["type"] in TERMINAL_TYPES] == [terminal]
    restarts = [i for i, e in enumerate(events) if e["type"] == "run.restarted"]
    after = events[restarts[-1] + 1 :] if restarts else events
    assert "".join(e["text"] for e in after if e["type"] == "run.delta") == output


async def test_a_duplicated_job_does_nothing(client, register, worker):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=7)
    r = await start(client, buyer, prompt["id"], max_tokens=6)
    run = await wait_run(client, buyer, r.json()["id"])
    before = await run_transactions(run["id"])
    with LiveRecorder() as rec:
        outcome = await executor.execute(
            run["id"], 1, worker_id="duplicate", http=worker.ctx["http"]
        )
        await jobs.enqueue(run["id"], 1)  # arq: a job id that already ran is not run again
        await asyncio.sleep(0.3)
    assert outcome == "skipped"
    assert rec.run_events(run["id"]) == []
    assert await run_transactions(run["id"]) == before
    await assert_ledger_invariants()


async def test_cancel_of_a_queued_run_refunds_everything(client, register):
    _, buyer, _, run = await _queued_run(client, register, price=20)
    assert (await wallet(client, buyer))["held_cents"] == 21
    with LiveRecorder() as rec:
        r = await client.post(f"/runs/{run.id}/cancel", headers=buyer.headers)
    assert r.status_code == 202 and r.json()["status"] == "canceled"
    done = await wait_run(client, buyer, run.id)
    assert (done["status"], done["charge_cents"], done["refunded_cents"]) == ("canceled", 0, 21)
    assert [e["type"] for e in rec.terminals(run.id)] == ["run.canceled"]
    assert await wallet(client, buyer) == {**await wallet(client, buyer), "balance_cents": 500}
    r = await client.post(f"/runs/{run.id}/cancel", headers=buyer.headers)
    assert r.status_code == 202  # cancelling twice is harmless
    await assert_ledger_invariants()


async def test_reaper_restarts_a_run_whose_worker_went_silent(client, register, worker):
    _, buyer, _, run = await _queued_run(client, register, max_tokens=12)
    claimed = await lifecycle.claim(run.id, 1, "ghost-worker")  # then the ghost dies
    assert claimed is not None
    await asyncio.sleep(0.3)
    with LiveRecorder() as rec:
        counts = await reaper.reap(stale_seconds=0.2)
        assert counts["restarted"] >= 1
        done = await wait_run(client, buyer, run.id)
        await asyncio.sleep(0.1)
    assert done["status"] == "completed" and done["attempt"] == 2
    assert done["output"] == demo_output("Write a tiny story about tea.", 12, run.id)
    events = rec.run_events(run.id)
    assert events[0] == {
        "type": "run.restarted",
        "run_id": run.id,
        "attempt": 2,
        "reason": "worker_lost",
    }
    _assert_one_terminal_and_output(events, done["output"], "run.completed")
    assert list(await run_transactions(run.id)) == ["run_hold", "run_settle"]
    await assert_ledger_invariants()


async def test_reaper_fails_and_refunds_when_attempts_are_used_up(client, register):
    _, buyer, _, run = await _queued_run(client, register, price=30)
    assert await lifecycle.claim(run.id, 1, "ghost-worker") is not None
    await asyncio.sleep(0.3)
    with LiveRecorder() as rec:
        await reaper.reap(stale_seconds=0.2, max_attempts=1)
    done = await wait_run(client, buyer, run.id)
    assert (done["status"], done["charge_cents"], done["refunded_cents"]) == ("failed", 0, 31)
    assert done["error"]["code"] == "worker_lost" and "not charged" in done["error"]["message"]
    [failed] = rec.terminals(run.id)
    assert failed["type"] == "run.failed" and failed["refunded_cents"] == 31
    assert (await wallet(client, buyer))["balance_cents"] == 500
    # A late write from the ghost changes nothing: it no longer holds the run.
    assert (
        await lifecycle.complete(
            run.id,
            attempt=1,
            worker_id="ghost-worker",
            output="x",
            output_tokens=1,
            input_tokens=1,
            seq=1,
            spec=__import__("hub.providers.models").providers.models.DEMO,
        )
        is None
    )
    await assert_ledger_invariants()


async def test_a_terminal_event_lost_in_a_crash_is_published_by_the_reaper(client, register):
    _, buyer, _, run = await _queued_run(client, register)
    terminal = await lifecycle.cancel_now(run.id)  # committed; the process "dies" before announcing
    assert terminal is not None
    with LiveRecorder() as rec:
        await reaper.reap(publish_grace_seconds=0)
        await reaper.reap(publish_grace_seconds=0)
    assert [e["type"] for e in rec.terminals(run.id)] == ["run.canceled"]
    await assert_ledger_invariants()


@pytest.fixture
def killable_worker(hub_env, tmp_path):
    """A real worker process streaming the demo model slowly, to be SIGKILLed mid-run."""
    with worker_process(
        hub_env, tmp_path, HUB_DEMO_TOKENS_PER_SECOND="60", HUB_RUN_PERSIST_SECONDS="0.2"
    ) as proc:
        yield proc


async def test_sigkill_of_the_worker_mid_run(client, register, hub_server, killable_worker):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator, price_cents=25)
    with jobs_routed_to(killable_worker.queue):
        run = await start_run(
            buyer.id,
            prompt["id"],
            RunRequest(inputs={"topic": "tea"}, max_tokens=300, visibility="private"),
            str(uuid.uuid4()),
        )
    mid = await wait_run(client, buyer, run.id, until=lambda r: len(r["output"]) > 20, within=20)
    assert mid["status"] == "running" and mid["attempt"] == 1
    killable_worker.proc.send_signal(signal.SIGKILL)
    killable_worker.proc.wait(10)

    await asyncio.sleep(1.2)
    counts = await reaper.reap(stale_seconds=1.0)
    assert counts["restarted"] == 1, counts
    done = await wait_run(client, buyer, run.id, within=20)
    assert done["status"] == "completed" and done["attempt"] == 2
    assert done["output"] == demo_output("Write a tiny story about tea.", 300, run.id)
    assert (done["charge_cents"], done["refunded_cents"]) == (26, 0)
    assert list(await run_transactions(run.id)) == ["run_hold", "run_settle"]
    assert (await wallet(client, buyer))["balance_cents"] == 500 - 26

    await asyncio.sleep(0.2)
    events = await _history(hub_server, run.id, buyer.token)
    types = [e["type"] for e in events]
    assert types.count("run.started") == 2 and types.count("run.restarted") == 1
    _assert_one_terminal_and_output(events, done["output"], "run.completed")
    await assert_ledger_invariants()
