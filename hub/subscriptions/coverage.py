"""Which runs a subscription covers, and counting them.

A run of a creator's prompt is covered when its buyer holds a live subscription to that
creator with runs left in the current period. Live means `active` (until the period ends,
plus `HUB_SUBSCRIPTION_GRACE_DAYS` for the renewal invoice to arrive) or `past_due` after a
failed renewal (until `grace_until`); a subscription set to cancel covers until its period
ends, no grace. A covered run is created with price 0 and the subscription's id: the buyer
pays the model usage from the wallet as for any run, the creator's share came from the
invoice. The runs of a period are counted from the runs table (failed runs give their run
back), under the subscription row's lock, so concurrent starts never exceed `runs_included`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.platform.db import fetch, fetchrow
from hub.platform.settings import get_settings

_LIVE_SQL = (
    "SELECT * FROM subscriptions WHERE subscriber_id = $1 AND creator_id = $2 "
    "AND status IN ('active', 'past_due')"
)


def window_end(row: dict[str, Any]) -> datetime:
    end: datetime = row["current_period_end"]
    if row["cancel_at_period_end"]:
        return end
    if row["status"] == "past_due":
        return row["grace_until"] or end
    return end + timedelta(days=get_settings().subscription_grace_days)


def is_live(row: dict[str, Any], now: datetime | None = None) -> bool:
    now = now or datetime.now(UTC)
    return row["status"] in ("active", "past_due") and now < window_end(row)


async def runs_used(subscription_id: uuid.UUID, period_start: datetime) -> int:
    row = await fetchrow(
        "SELECT count(*) AS n FROM runs WHERE subscription_id = $1 AND created_at >= $2 "
        "AND status <> 'failed'",
        subscription_id,
        period_start,
    )
    return int(row["n"]) if row else 0


async def covering(buyer_id: str, creator_id: str, *, lock: bool = False) -> uuid.UUID | None:
    """The subscription that covers a run now (locked when `lock`, inside the caller's
    transaction, which must then record the run), or None."""
    if buyer_id == creator_id:
        return None
    rows = await fetch(
        _LIVE_SQL + (" FOR UPDATE" if lock else ""), uuid.UUID(buyer_id), uuid.UUID(creator_id)
    )
    for row in rows:
        if (
            is_live(row)
            and await runs_used(row["id"], row["current_period_start"]) < row["runs_included"]
        ):
            return row["id"]
    return None
