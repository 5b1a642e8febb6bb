"""Postgres goes away under the worker: nothing is stuck or charged twice once it is back."""

from __future__ import annotations

import signal

from tests.resilience.helpers import make_prompt, register, start_run, wait_run


async def test_a_run_whose_claim_meets_postgres_down_runs_once_it_is_back(pg_stack, pg_api):
    stack, api = pg_stack, pg_api
    creator, buyer = await register(api), await register(api)
    prompt = await make_prompt(api, creator)

    assert stack.worker.proc is not None
    stack.worker.proc.send_signal(signal.SIGSTOP)  # the run's job waits in the queue...
    try:
        run = await start_run(api, buyer, prompt["id"])
        stack.pg.stop("fast")  # ...until Postgres is gone
    finally:
        stack.worker.proc.send_signal(signal.SIGCONT)
    await stack.wait_log(stack.worker, "run.job_retry")  # the claim met the outage
    assert stack.worker.alive()

    stack.pg.start()
    done = await wait_run(api, buyer, run["id"], within=60)
    assert done["status"] == "completed" and done["attempt"] == 1 and done["output"]
    assert done["charge_cents"] + done["refunded_cents"] == done["hold_cents"]
