"""What a run costs: the model, the output cap, the price and the hold.

Why a module of its own: the estimate (GET /prompts/{id}/estimate) and the start must price a
run the same way, so the hold the buyer sees in the estimate is the hold the start takes.
A run holds its price (0 for the prompt's creator, or when a subscription to the creator
covers it) plus the usage cap: the cost of the rendered prompt and `max_tokens` of output.
"""

from __future__ import annotations

from hub.billing import wallets
from hub.platform.errors import conflict, not_found, validation_error
from hub.platform.settings import get_settings
from hub.prompts.service import PromptForRun, get_prompt_for_run
from hub.providers.models import ModelSpec, count_tokens, get_model, usage_cents
from hub.runs.schemas import Estimate
from hub.subscriptions import coverage as subscription_coverage


def model_or_409(name: str) -> ModelSpec:
    """The prompt's model, or a 409 the buyer can act on when this hub does not offer it."""
    spec = get_model(name)
    if spec is None:
        raise conflict(
            f"This prompt's model '{name}' is not available on this hub right now.",
            "model-unavailable",
        )
    return spec


def max_tokens_for(spec: ModelSpec, requested: int | None) -> int:
    """The run's output cap: the request's, or the hub's default within the model's."""
    value = requested or min(spec.default_max_tokens, get_settings().run_default_max_tokens)
    if value > spec.max_output_tokens:
        raise validation_error(
            "max_tokens", f"max_tokens can be at most {spec.max_output_tokens} for this model."
        )
    return value


def price_for(prompt: PromptForRun, buyer_id: str | None) -> int:
    """Creators run their own prompts for the usage only."""
    return 0 if buyer_id == prompt.owner_id else prompt.price_cents


async def estimate(prompt_id: str, max_tokens: int | None, viewer_id: str | None) -> Estimate:
    """What starting the run now would hold, and the viewer's balance to compare it with."""
    prompt = await get_prompt_for_run(prompt_id)
    if prompt is None or (prompt.status != "active" and viewer_id != prompt.owner_id):
        raise not_found("This prompt")
    spec = model_or_409(prompt.model)
    tokens = max_tokens_for(spec, max_tokens)
    input_tokens = count_tokens(prompt.template)
    cap = usage_cents(spec, input_tokens, tokens)
    price = price_for(prompt, viewer_id)
    covered = False
    if viewer_id and price > 0 and await subscription_coverage.covering(viewer_id, prompt.owner_id):
        price, covered = 0, True
    balance = None
    if viewer_id:
        balance = (await wallets.wallet(viewer_id)).balance_cents
    return Estimate(
        prompt_id=prompt.id,
        model=spec.name,
        max_tokens=tokens,
        input_tokens=input_tokens,
        price_cents=price,
        usage_cap_cents=cap,
        hold_cents=price + cap,
        balance_cents=balance,
        covered_by_subscription=covered,
    )
