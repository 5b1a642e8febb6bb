"""A user's runs under the GDPR: their export (GET /me/export) and their erasure.

Why a module of its own: these are the runs domain's answers to the accounts domain's
export and erasure hooks, and they must keep the money records (amounts, statuses) that the
ledger refers to while removing what the user wrote and received.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from hub.platform.db import fetch


async def export_user(user_id: str) -> list[dict[str, Any]]:
    """The user's runs (as buyer), with their inputs and outputs, for GET /me/export."""
    rows = await fetch(
        "SELECT id, prompt_id, prompt_version, status, visibility, model, inputs, output, "
        "max_tokens, usage_input_tokens, usage_output_tokens, charge_cents, refunded_cents, "
        "error_code, created_at, finished_at FROM runs WHERE buyer_id = $1 ORDER BY created_at",
        uuid.UUID(user_id),
    )
    out = []
    for r in rows:
        item = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}
        item["id"], item["prompt_id"] = str(r["id"]), str(r["prompt_id"])
        item["inputs"] = json.loads(r["inputs"]) if isinstance(r["inputs"], str) else r["inputs"]
        out.append(item)
    return out


async def erase_user(user_id: str) -> None:
    """Inside the erasure transaction: the user's inputs and outputs go; the money records
    (amounts, statuses) stay. Runs still in flight are asked to stop."""
    uid = uuid.UUID(user_id)
    await fetch(
        "UPDATE runs SET cancel_requested_at = coalesce(cancel_requested_at, now()) "
        "WHERE buyer_id = $1 AND status IN ('queued', 'running')",
        uid,
    )
    await fetch("UPDATE runs SET inputs = '{}'::jsonb, output = '' WHERE buyer_id = $1", uid)
