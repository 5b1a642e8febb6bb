"""The demo provider: deterministic per run, exactly max_tokens tokens, paced, honest counts,
and of no use for checking a guessed template."""

from __future__ import annotations

import time

from hub.providers.base import CompletionRequest, TokenDelta, Usage
from hub.providers.demo import DemoProvider, demo_output, demo_tokens
from hub.providers.models import DEMO, count_tokens, usage_cents
from tests.runs.helpers import make_prompt, start, wait_run


async def _collect(provider: DemoProvider, prompt: str, n: int) -> tuple[str, Usage, float]:
    started = time.monotonic()
    text, usage = "", None
    async for item in provider.stream(CompletionRequest(prompt=prompt, max_tokens=n, model=DEMO)):
        if isinstance(item, TokenDelta):
            text += item.text
        else:
            usage = item
    assert usage is not None
    return text, usage, time.monotonic() - started


async def test_same_prompt_same_text_exactly_max_tokens():
    a, usage, _ = await _collect(DemoProvider(10_000), "Write about {{x}} SECRET-MARK", 57)
    b, _, _ = await _collect(DemoProvider(10_000), "Write about {{x}} SECRET-MARK", 57)
    assert a == b == demo_output("Write about {{x}} SECRET-MARK", 57)
    assert len(demo_tokens("p", 57)) == 57 == usage.output_tokens
    assert usage.input_tokens == count_tokens("Write about {{x}} SECRET-MARK")
    assert "SECRET" not in a  # derived from the prompt, never quoting it
    c, _, _ = await _collect(DemoProvider(10_000), "another prompt", 57)
    assert c != a


async def test_output_cannot_confirm_a_guessed_template(client, register):
    """A buyer who guesses a private template cannot check the guess with the demo model:
    running the guess as their own prompt gives another text, and without the server's key
    the text cannot be recomputed offline from the run id either."""
    creator = await register()
    buyer = await register()
    secret = "Answer as a sea captain from 1820, in exactly three sentences, about {{topic}}."
    private = await make_prompt(client, creator, template=secret, private_mode=True)
    guess = await make_prompt(client, buyer, template=secret, price_cents=0)
    outputs = []
    for account, prompt in ((buyer, private), (buyer, guess), (buyer, private)):
        r = await start(client, account, prompt["id"], inputs={"topic": "tea"}, max_tokens=30)
        assert r.status_code == 202, r.text
        run = await wait_run(client, account, r.json()["id"])
        assert run["status"] == "completed"
        outputs.append(run["output"])
        rendered = secret.replace("{{topic}}", "tea")
        assert run["output"] == demo_output(rendered, 30, run["id"])  # with the server's key
        assert run["output"] != demo_output(rendered, 30)  # the prompt alone says nothing
        assert run["output"] != demo_output(rendered, 30, run["id"] + "x")
    assert len(set(outputs)) == 3  # every run its own text, the same prompt or not


async def test_never_faster_than_the_configured_rate():
    """40 tokens at 200 tokens/s take at least 0.2 s (less the first token's slot): the demo
    model is paced like a real one. How much longer a busy machine takes is not its concern."""
    _, _, took = await _collect(DemoProvider(200), "pace", 40)
    assert took >= 0.18


def test_usage_is_whole_cents_rounded_up():
    assert usage_cents(DEMO, 0, 0) == 0
    assert usage_cents(DEMO, 8, 1) == 1
    assert usage_cents(DEMO, 0, 2000) == 2
    assert usage_cents(DEMO, 2, 2000) == 3
