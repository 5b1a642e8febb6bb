"""Realtime publications of the marketplace, written to the outbox in the transaction of
their change (hub.outbox), so they go out once the change commits and never fail a request.

Everything published on `prompts:<id>` goes through `public_prompt`, which drops the template
and the owner's leak guard count: that channel is readable by anyone, owner or not.
"""

from __future__ import annotations

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
