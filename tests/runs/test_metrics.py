from prometheus_client import REGISTRY

from hub.runs import metrics


async def test_metrics_reflect_the_database(client, register):
    await register()
    await metrics.refresh()
    assert REGISTRY.get_sample_value("hub_runs", {"status": "queued"}) is not None
    assert REGISTRY.get_sample_value("hub_ledger_balance_cents", {"account": "wallet"}) >= 500
    promotions = REGISTRY.get_sample_value("hub_ledger_balance_cents", {"account": "promotions"})
    assert promotions <= -500
