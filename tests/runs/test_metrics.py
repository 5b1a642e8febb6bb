import httpx
from prometheus_client import REGISTRY

from hub.runs import metrics


async def test_metrics_reflect_the_database(client, register, hub_server):
    await register()  # verified: the starter credits are promotional money
    await metrics.refresh()
    assert REGISTRY.get_sample_value("hub_runs_in_flight", {"status": "queued"}) is not None
    assert REGISTRY.get_sample_value("hub_ledger_balance_cents", {"account": "promo_wallet"}) >= 500
    promotions = REGISTRY.get_sample_value("hub_ledger_balance_cents", {"account": "promotions"})
    assert promotions <= -500
    async with httpx.AsyncClient(base_url=hub_server) as c:
        text = (await c.get("/metrics")).text
    for name in ("hub_runs_in_flight", "hub_ledger_balance_cents", "realtime_connections"):
        assert name in text, name
