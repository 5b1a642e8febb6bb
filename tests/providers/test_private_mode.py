"""Private Mode: the template goes to the provider and nowhere else.

A marker in a private template must appear in no publication, no API response, no error and
no log line, including a worker process logging at DEBUG and providers whose error bodies
quote the prompt back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Iterator

import structlog

from hub.runs.jobs import jobs_routed_to
from hub.runs.schemas import RunRequest
from hub.runs.start import start_run
from tests.billing.invariants import assert_ledger_invariants
from tests.runs.helpers import LiveRecorder, make_prompt, start, wait_run
from tests.runs.workerproc import worker_process


@contextlib.contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Every structlog event (after exception formatting) and stdlib record of this process."""
    lines: list[str] = []
    processors = structlog.get_config()["processors"]

    def capture(logger, method, event_dict):  # type: ignore[no-untyped-def]
        lines.append(json.dumps(event_dict, default=str))
        return event_dict

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Handler(level=logging.DEBUG)
    processors.insert(len(processors) - 1, capture)  # cached loggers share this list
    logging.getLogger().addHandler(handler)
    try:
        yield lines
    finally:
        processors.remove(capture)
        logging.getLogger().removeHandler(handler)


async def test_private_template_never_leaves_the_provider_request(
    client, register, fake_model, fake_openai, hub_env, tmp_path
):
    marker = f"PRIVMARK{uuid.uuid4().hex}"
    template = f"{marker} Write a tiny story about {{{{topic}}}}."
    creator = await register()
    buyer = await register()
    down, down_key = fake_model("down500", max_retries=0)
    reject, _ = fake_model("reject400")
    cut, _ = fake_model("cut")
    prompts = {}
    for name in ("demo", down.name, reject.name, cut.name):
        prompts[name] = await make_prompt(
            client, creator, model=name, template=template, private_mode=True, price_cents=5
        )
    sub_env = {
        "HUB_LOG_LEVEL": "DEBUG",
        "HUB_OPENAI_MODELS": json.dumps(
            [
                {
                    k: getattr(s, k)
                    for k in (
                        "name",
                        "upstream_model",
                        "input_cents_per_1k",
                        "output_cents_per_1k",
                        "base_url",
                        "api_key",
                    )
                }
                | {"max_retries": 0}
                for s in (down, reject)
            ]
        ),
    }
    seen: list[str] = []
    with captured_logs() as logs, LiveRecorder() as rec:
        # In this process (API + in-process worker): a public demo run, a cut stream, errors.
        r = await start(client, buyer, prompts["demo"]["id"], max_tokens=30, visibility="public")
        seen.append(r.text)
        demo_run = await wait_run(client, buyer, r.json()["id"])
        r = await start(client, buyer, prompts[cut.name]["id"], max_tokens=8, visibility="public")
        cut_run = await wait_run(client, buyer, r.json()["id"])
        r = await start(client, buyer, prompts["demo"]["id"], inputs={})
        assert r.status_code == 422
        seen.append(r.text)
        r = await start(client, buyer, prompts["demo"]["id"], inputs={"topic": "x" * 9000})
        seen.append(r.text)
        # In a worker process logging at DEBUG: a demo run and two providers echoing the prompt.
        with worker_process(hub_env, tmp_path, **sub_env) as proc:
            started = []
            for name in ("demo", down.name, reject.name):
                with jobs_routed_to(proc.queue):
                    run = await start_run(
                        buyer.id,
                        prompts[name]["id"],
                        RunRequest(inputs={"topic": "owls"}, max_tokens=12, visibility="public"),
                        str(uuid.uuid4()),
                    )
                started.append(run)
            finished = [await wait_run(client, buyer, run.id) for run in started]
            await asyncio.sleep(0.3)
            worker_log = proc.log()
        for path in (
            f"/runs/{demo_run['id']}",
            f"/runs/{cut_run['id']}",
            "/live/runs",
            f"/prompts/{prompts['demo']['id']}/estimate",
        ):
            seen.append((await client.get(path)).text)
            seen.append((await client.get(path, headers=buyer.headers)).text)
        seen.append((await client.get("/me/runs", headers=buyer.headers)).text)

    assert demo_run["status"] == "completed" and cut_run["status"] == "failed"
    assert [f["status"] for f in finished] == ["completed", "failed", "failed"]
    assert (
        fake_openai[0].requests[down_key][0]["body"]["messages"][0]["content"].startswith(marker)
    ), "the provider did get the template"
    for logged in ('"event": "run.started"', '"event": "provider.failed"', '"level": "debug"'):
        assert logged in worker_log  # the worker did log, verbosely
    publications = json.dumps(rec.events)
    assert rec.events and marker not in publications
    assert marker not in "\n".join(seen)
    assert marker not in "\n".join(logs)
    assert marker not in worker_log
    for run in finished:
        assert marker not in json.dumps(run)
    await assert_ledger_invariants()
