"""Runs routes (thin): estimate, start, read, cancel, my runs, live public runs."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, HeaderParameter, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from hub.billing import run_money
from hub.platform.auth import CurrentUser, Viewer
from hub.platform.errors import forbidden
from hub.platform.pagination import Cursor, Limit
from hub.runs import lifecycle, pricing, queries, refunds
from hub.runs.schemas import CancelOut, Estimate, RunOut, RunPage, RunRequest
from hub.runs.start import start_run


class PromptRunsController(Controller):
    path = "/prompts"
    tags = ["runs"]

    @get(
        "/{prompt_id:uuid}/estimate",
        exclude_from_auth=True,
        summary="What a run would hold: price + usage cap",
        description="`hold_cents = price_cents + usage_cap_cents`; the usage cap is "
        "`max_tokens` at the model's rates (input counted on the template; the hold itself "
        "counts the rendered prompt). Signed in, `balance_cents` is your wallet balance. "
        "`cancel_rule` states what cancelling costs; send `price_cents` back as "
        "`expected_price_cents` when starting the run.",
    )
    async def estimate(
        self,
        prompt_id: FromPath[UUID],
        viewer: Viewer,
        max_tokens: Annotated[int | None, Parameter(ge=1, le=8000)] = None,
    ) -> Estimate:
        return await pricing.estimate(str(prompt_id), max_tokens, viewer.id if viewer else None)

    @post(
        "/{prompt_id:uuid}/runs",
        status_code=HTTP_202_ACCEPTED,
        summary="Start a run (requires an Idempotency-Key header)",
        description="Holds price + usage cap from your wallet and queues the run; subscribe "
        "to `channel` for its events. The same Idempotency-Key with the same body returns the "
        "same run; with a different body, 422. 402 (with the estimate) when your wallet is "
        "short, 429 over your daily spending limit, 422 for a missing or unknown variable. "
        "With `expected_price_cents`, a prompt whose price changed since is a 409 "
        "`price-changed` carrying the current estimate, and nothing is held.",
    )
    async def start(
        self,
        prompt_id: FromPath[UUID],
        request: Request[CurrentUser, Any, Any],
        data: JSONBody[RunRequest],
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key",
                description="Required (400 without it): a new unique value per run, e.g. a "
                "UUID; resend the same value to retry safely.",
            ),
        ] = None,
    ) -> RunOut:
        return await start_run(request.user.id, str(prompt_id), data, idempotency_key)


class RunsController(Controller):
    path = "/runs"
    tags = ["runs"]

    @get(
        "/{run_id:uuid}",
        exclude_from_auth=True,
        summary="A run: status, output so far and the stream position it reflects",
        description="Visible to its buyer, and to anyone when public. Render `output`, then "
        "subscribe to `channel` since `stream` {offset, epoch}: nothing missed or doubled.",
    )
    async def get_run(self, run_id: FromPath[UUID], viewer: Viewer) -> RunOut:
        return await queries.get_run(str(run_id), viewer.id if viewer else None)

    @post(
        "/{run_id:uuid}/cancel",
        status_code=HTTP_202_ACCEPTED,
        summary="Cancel my run; it ends `canceled` within a second",
        description="Before the first output token a cancelled run costs nothing (the whole "
        "hold is returned). Once output has begun you pay the full price plus the usage so "
        "far, as for a completed run.",
    )
    async def cancel(
        self, run_id: FromPath[UUID], request: Request[CurrentUser, Any, Any]
    ) -> CancelOut:
        return await lifecycle.request_cancel(str(run_id), request.user.id)


class MyRunsController(Controller):
    path = "/me/runs"
    tags = ["runs"]

    @get("/", summary="My runs, newest first")
    async def my_runs(
        self, request: Request[CurrentUser, Any, Any], limit: Limit = 20, cursor: Cursor = None
    ) -> RunPage:
        return await queries.my_runs(request.user.id, limit, cursor)


class LiveRunsController(Controller):
    path = "/live/runs"
    tags = ["runs"]

    @get("/", exclude_from_auth=True, summary="Public runs streaming now")
    async def live_runs(self, viewer: Viewer, limit: Limit = 20, cursor: Cursor = None) -> RunPage:
        return await queries.live_runs(limit, cursor, viewer.id if viewer else None)


class AdminRunsController(Controller):
    path = "/admin/runs"
    tags = ["money"]

    @post(
        "/{run_id:uuid}/refund",
        status_code=HTTP_200_OK,
        summary="Refund a completed run (admin)",
        description="Reverses the run's settlement: the buyer gets price + usage back, the "
        "platform returns its fee, the creator's earning comes back from pending, then "
        "available, and any rest is recorded as a creator debt. Once per run (409 after).",
    )
    async def refund(
        self, run_id: FromPath[UUID], request: Request[CurrentUser, Any, Any]
    ) -> run_money.AdminRefund:
        if not request.user.is_admin:
            raise forbidden("Only admins can refund runs.")
        return await refunds.admin_refund(str(run_id), request.user.id)


HANDLERS: list[Any] = [
    PromptRunsController,
    RunsController,
    MyRunsController,
    LiveRunsController,
    AdminRunsController,
]
