"""hub/wiring.py is the one place domains are plugged in: importing a module registers nothing,
and the app, the worker and the demo data get the same account hooks from it."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import json, pkgutil, importlib
import hub, workers
for info in pkgutil.walk_packages(hub.__path__, "hub."):
    if ".piccolo_migrations" not in info.name:
        importlib.import_module(info.name)
import workers.settings
from hub.accounts import hooks
def names():
    lists = ("on_user_registered", "on_email_verified", "on_user_signed_out", "on_user_erased")
    out = {n: [f"{h.__module__}.{h.__qualname__}" for h in getattr(hooks, n)] for n in lists}
    out["exporters"] = list(hooks.exporters)
    return out
imported = names()
from hub.wiring import register_domain_hooks
register_domain_hooks()
once = names()
register_domain_hooks()
from hub.app import create_app
create_app()
print(json.dumps({"imported": imported, "once": once, "again": names()}))
"""


def test_importing_registers_nothing_and_wiring_is_idempotent() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(not v for v in result["imported"].values()), result["imported"]
    once = result["once"]
    # Starter credits, the wallet, the sign-out disconnect, every domain's export and erasure.
    assert once["on_email_verified"] == ["hub.billing.wallets.on_email_verified"]
    assert "hub.billing.wallets.on_user_registered" in once["on_user_registered"]
    assert once["on_user_signed_out"] == ["hub.live.disconnect_user"]
    assert set(once["exporters"]) == {
        "mail",
        "money",
        "marketplace",
        "moderation",
        "sign_in_providers",
        "rooms",
        "runs",
        "subscriptions",
    }
    assert len(once["on_user_erased"]) == 7
    # Wiring again (another create_app(), the worker in the same process) doubles nothing.
    assert result["again"] == once
