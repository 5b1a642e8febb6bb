"""What a prompt's change sets off, written to the outbox in the transaction of the change
(hub.outbox), so it happens once the change commits and never fails a request: realtime
publications of the marketplace, and the fan-out of a new version to the followers' feeds.

Everything published on `prompts:<id>` goes through `public_prompt`, which drops the template
and the owner's leak guard count: that channel is readable by anyone, owner or not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from hub import outbox
from hub.prompts.schemas import PromptOut


def public_prompt(prompt: PromptOut) -> dict[str, Any]:
    """The prompt as anyone may see it: never with a template or owner-only figures."""
    return msgspec.to_builtins(
        msgspec.structs.replace(prompt, template=None, leak_guard_redactions=None)
    )


async def prompt_updated(prompt: PromptOut) -> None:
    """In the transaction of the change: `prompt.updated` on the prompt's channel."""
    await outbox.publish(
        f"prompts:{prompt.id}", {"type": "prompt.updated", "prompt": public_prompt(prompt)}
    )


#: The community domain's job (hub.community.feed.fanout_batch, run by workers/feeds.py).
FANOUT_JOB = "fanout_prompt_event"


async def enqueue_prompt_fanout(
    prompt_id: str, version: int, event_at: datetime, after: str | None = None
) -> None:
    """Queue one batch of feed fan-out for a prompt's version: call it inside the transaction
    that saves the prompt (or the previous batch), so the fan-out happens if and only if that
    commits, whatever Redis is doing at that moment. The job id makes a second delivery a
    no-op. It lives here, not in the community domain that runs the job, so that prompts
    depend on nothing of community (community builds on prompts)."""
    job_id = f"feed:{prompt_id}:{version}:{after or 'start'}"
    await outbox.enqueue(FANOUT_JOB, prompt_id, version, event_at.isoformat(), after, job_id=job_id)
