"""The OpenAI-compatible provider against a local fake: retries, timeouts, cut and malformed
streams, the circuit breaker, and cancel closing the HTTP stream. Every failure ends the run
`failed` with a full refund and a message that quotes neither the prompt nor the provider."""

from __future__ import annotations

import asyncio

import pytest

from hub.providers.breaker import breaker_for
from tests.billing.invariants import assert_ledger_invariants
from tests.runs.helpers import LiveRecorder, eventually, make_prompt, start, wait_run, wallet

TEMPLATE = "Summarise {{topic}} in one line."
RENDERED = "Summarise tea in one line."


async def _run(client, register, spec, *, price=10, max_tokens=8, within=15.0):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(
        client, creator, model=spec.name, price_cents=price, template=TEMPLATE
    )
    with LiveRecorder() as rec:
        r = await start(client, buyer, prompt["id"], max_tokens=max_tokens)
        assert r.status_code == 202, r.text
        run = await wait_run(client, buyer, r.json()["id"], within=within)
        # The terminal event is published just after the commit: wait for it to be sent.
        await eventually(lambda: rec.terminals(run["id"]), what="the terminal event")
    return buyer, run, rec


def _assert_refunded(run: dict, code: str, hold: int = 11) -> None:
    assert run["status"] == "failed", run
    assert run["error"]["code"] == code, run["error"]
    assert (run["charge_cents"], run["refunded_cents"]) == (0, hold)
    assert "Summarise" not in run["error"]["message"] and "not charged" in run["error"]["message"]


async def test_streams_with_usage_from_the_provider(client, register, fake_model, fake_openai):
    spec, key = fake_model("ok")
    buyer, run, rec = await _run(client, register, spec)
    assert run["status"] == "completed", run
    assert run["output"] == "alpha beta gamma delta epsilon zeta eta theta"
    assert run["usage"] == {"input_tokens": 11, "output_tokens": 8, "cost_cents": 1}
    assert run["charge_cents"] == 11
    [request] = fake_openai[0].requests[key]
    body = request["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "fake-model" and body["max_tokens"] == 8
    assert body["messages"] == [{"role": "user", "content": RENDERED}]
    assert request["headers"]["authorization"] == "Bearer sk-test-not-a-secret"
    assert [e["type"] for e in rec.terminals(run["id"])] == ["run.completed"]
    await assert_ledger_invariants()


async def test_without_usage_the_hub_counts(client, register, fake_model):
    spec, _ = fake_model("nousage")
    _, run, _ = await _run(client, register, spec)
    assert run["status"] == "completed"
    assert run["usage"]["output_tokens"] == 8 and run["usage"]["input_tokens"] == 6


async def test_429_then_success_is_retried(client, register, fake_model, fake_openai):
    spec, key = fake_model("flaky429")
    _, run, _ = await _run(client, register, spec)
    assert run["status"] == "completed", run
    assert len(fake_openai[0].requests[key]) == 2


async def test_500_forever_fails_and_refunds(client, register, fake_model, fake_openai):
    spec, key = fake_model("down500")
    buyer, run, rec = await _run(client, register, spec)
    _assert_refunded(run, "provider_unavailable")
    assert len(fake_openai[0].requests[key]) == 3  # the first try and two retries
    [failed] = rec.terminals(run["id"])
    assert failed["type"] == "run.failed" and failed["refunded_cents"] == 11
    assert (await wallet(client, buyer))["balance_cents"] == 500
    await assert_ledger_invariants()


async def test_a_rejected_request_is_not_retried(client, register, fake_model, fake_openai):
    spec, key = fake_model("reject400")
    _, run, _ = await _run(client, register, spec)
    _assert_refunded(run, "provider_rejected")
    assert len(fake_openai[0].requests[key]) == 1


async def test_stream_cut_midway_fails_and_refunds(client, register, fake_model, fake_openai):
    spec, key = fake_model("cut")
    _, run, rec = await _run(client, register, spec)
    _assert_refunded(run, "provider_stream_cut")
    assert len(fake_openai[0].requests[key]) == 1  # tokens were shown: no silent retry
    assert [e["type"] for e in rec.terminals(run["id"])] == ["run.failed"]
    await assert_ledger_invariants()


async def test_slow_first_token_within_the_timeout_completes(client, register, fake_model):
    spec, _ = fake_model("slowfirst")
    _, run, _ = await _run(client, register, spec)
    assert run["status"] == "completed", run


async def test_no_first_token_in_time_is_retried_then_refunded(
    client, register, fake_model, fake_openai
):
    spec, key = fake_model("hang", first_token_timeout_seconds=0.3, max_retries=1)
    _, run, _ = await _run(client, register, spec)
    _assert_refunded(run, "provider_unavailable")
    assert len(fake_openai[0].requests[key]) == 2


async def test_malformed_sse_fails_and_refunds(client, register, fake_model, fake_openai):
    spec, key = fake_model("malformed")
    _, run, _ = await _run(client, register, spec)
    _assert_refunded(run, "provider_bad_response")
    assert len(fake_openai[0].requests[key]) == 1


async def test_circuit_breaker_fails_fast_then_tries_again(
    client, register, fake_model, fake_openai
):
    spec, key = fake_model(
        "down500", breaker_failures=2, max_retries=1, breaker_cooldown_seconds=60.0
    )
    # The breaker's clock is the test's: "after the cooldown" is a step, not a wait.
    breaker = breaker_for(spec.base_url, 2, 60.0)
    now = [1000.0]
    breaker.clock = lambda: now[0]
    requests = fake_openai[0].requests[key]
    _, first, _ = await _run(client, register, spec)
    _assert_refunded(first, "provider_unavailable")
    assert len(requests) == 2
    _, second, _ = await _run(client, register, spec)  # open: no request at all
    _assert_refunded(second, "provider_unavailable")
    assert len(requests) == 2
    now[0] += 61.0
    _, third, _ = await _run(client, register, spec)  # half-open: one trial, still failing
    _assert_refunded(third, "provider_unavailable")
    assert len(requests) == 3
    await assert_ledger_invariants()


@pytest.mark.parametrize("price", [25])
async def test_cancel_closes_the_provider_stream(client, register, fake_model, fake_openai, price):
    spec, key = fake_model("slowstream")
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(
        client, creator, model=spec.name, price_cents=price, template=TEMPLATE
    )
    r = await start(client, buyer, prompt["id"], max_tokens=1000)
    run_id = r.json()["id"]
    await wait_run(client, buyer, run_id, until=lambda run: len(run["output"]) > 20)
    await client.post(f"/runs/{run_id}/cancel", headers=buyer.headers)
    run = await wait_run(client, buyer, run_id, within=3)
    assert run["status"] == "canceled" and 0 < run["usage"]["output_tokens"] < 1000
    await asyncio.wait_for(fake_openai[0].disconnected[key].wait(), 2)
    # Output had begun: the full price plus the usage so far.
    assert run["charge_cents"] == price + run["usage"]["cost_cents"]
    assert run["usage"]["cost_cents"] >= 1
    await assert_ledger_invariants()
