"""Realtime publications of the marketplace, after commit and never fatal to the request.

Everything published on `prompts:<id>` goes through `public_prompt`, which drops the template
and the owner's leak guard count: that channel is readable by anyone, owner or not.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog

from hub import live
from hub.prompts.schemas import PromptOut

log = structlog.get_logger(__name__)


def public_prompt(prompt: PromptOut) -> dict[str, Any]:
    """The prompt as anyone may see it: never with a template or owner-only figures."""
    return msgspec.to_builtins(
        msgspec.structs.replace(prompt, template=None, leak_guard_redactions=None)
    )


async def publish_quietly(channel: str, data: dict[str, Any]) -> None:
    """Publish after the transaction committed; a realtime outage must not fail the request
    (clients reload from REST on `recovered: false`)."""
    try:
        await live.publish(channel, data)
    except Exception:  # noqa: BLE001 - logged, the state change is already durable
        log.warning("live.publish_failed", channel=channel, type=data.get("type"), exc_info=True)


async def prompt_updated(prompt: PromptOut) -> None:
    await publish_quietly(
        f"prompts:{prompt.id}", {"type": "prompt.updated", "prompt": public_prompt(prompt)}
    )
