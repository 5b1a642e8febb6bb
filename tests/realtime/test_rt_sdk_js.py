"""The official centrifuge-js SDK (JSON and Protobuf builds) under Node against the hub."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).resolve().parent / "js" / "scenario.js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (ROOT / "node_modules" / "centrifuge").exists(),
    reason="needs node and `npm ci` at the repository root",
)


@pytest.mark.parametrize("fmt", ["json", "protobuf"])
async def test_centrifuge_js_connect_subscribe_receive_recover(hub, uid, fmt):
    channel = f"public:js-{uid}"
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(SCENARIO),
        hub.ws_url,
        hub.url,
        channel,
        fmt,
        f"js{uid}:0",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["pubs"] == [
        *({"offset": i + 1, "data": {"phase": "live", "i": i}} for i in range(3)),
        *({"offset": i + 4, "data": {"phase": "missed", "i": i}} for i in range(4)),
    ]
    first, second = result["subscribed"]
    assert first["recoverable"] and not first["wasRecovering"]
    assert second["wasRecovering"] and second["recovered"]
    assert result["historyOffsets"] == [1, 2, 3]
