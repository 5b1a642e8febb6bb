"""The money invariants hold over everything the whole suite did to the ledger: this test
runs last (`run_last`), after every scenario of the session has posted its money."""

from __future__ import annotations

import pytest

from tests.billing.invariants import assert_ledger_invariants


@pytest.mark.run_last
async def test_the_ledger_holds_after_the_whole_suite(hub_env):
    from hub.platform import redis as hub_redis
    from hub.platform.db import close_pool, engine, start_pool
    from hub.platform.settings import get_settings

    started = engine().pool is None
    if started:  # run on its own, without the app
        hub_redis.connect(get_settings().queue_redis)
        await start_pool(min_size=1, max_size=2)
    try:
        await assert_ledger_invariants()
    finally:
        if started:
            await close_pool()
            await hub_redis.close()
