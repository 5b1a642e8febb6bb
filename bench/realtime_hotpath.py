"""The fan-out hot path alone, in-process: Python CPU per delivery, without sockets.

    .venv/bin/python bench/realtime_hotpath.py [--subs 5000] [--pubs 200] [--repeat 7]

Builds the engine's hub with N direct-write JSON subscribers of one channel whose transports
only count bytes, then feeds publications to `Hub.on_message` (as Redis pub/sub does) and
runs the engine's fan-out flush after each one (one loop iteration per Redis read). Reports the
CPU time (process time, so other load on the machine barely matters; the minimum over the
repeats) per publication and per delivery. This is the Python part of the fan-out that
`realtime_fanout.py` measures end to end (there most of the cost is the `write` syscall and
the loopback TCP of both ends); use it to compare code changes on a busy machine: run it on
the old and the new tree back to back.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class CountingTransport:
    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)

    def is_closing(self) -> bool:
        return False


class FakeProtocol:
    """What the engine touches of uvicorn's websockets-sansio protocol on the hot path."""

    def __init__(self) -> None:
        self.transport = CountingTransport()
        from realtime.lean import LeanEvent

        self.writable = LeanEvent(True)  # realtime.gateway swaps uvicorn's asyncio.Event for it
        self.close_sent = False


async def measure(n: int, pubs: int, repeat: int) -> dict[str, float]:
    from realtime import EngineConfig, NamespaceOptions, SimplePolicy
    from realtime.hub import ChannelEntry, Hub
    from realtime.keys import Keys
    from realtime.node import Engine

    channel = "bench:hot"
    policy = SimplePolicy({"bench": NamespaceOptions(history_size=100, history_ttl_seconds=300)})
    engine = Engine("redis://unused", policy, None, EngineConfig())  # type: ignore[arg-type]
    keys = Keys("hub")
    engine.hub = Hub(keys, engine.fanout)
    rchannel = keys.pubsub(channel)
    entry = ChannelEntry(channel, rchannel)
    engine.hub.entries[rchannel] = entry
    protos = []
    for _ in range(n):
        proto = FakeProtocol()
        client = engine.connection(None, False, proto)
        entry.live[client.kind].add(client)
        protos.append(proto)
    payload = b'{"type":"run.delta","seq":1,"text":"hello there, this is a token"}'
    offset = 0
    best = float("inf")
    gc.collect()
    gc.freeze()
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(pubs):
            offset += 1
            engine.hub.on_message(rchannel, b"p%d:e:%s" % (offset, payload))
            engine.fanout.flush()
        best = min(best, time.process_time() - start)
    delivered = sum(p.transport.bytes > 0 for p in protos)
    assert delivered == n, "every subscriber must have received frames"
    return {
        "subscribers": n,
        "publications": pubs,
        "us_per_publication": round(best / pubs * 1e6, 1),
        "us_per_delivery": round(best / (pubs * n) * 1e6, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--subs", type=int, default=5000)
    parser.add_argument("--pubs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    result: Any = asyncio.run(measure(args.subs, args.pubs, args.repeat))
    print(result)


if __name__ == "__main__":
    main()
