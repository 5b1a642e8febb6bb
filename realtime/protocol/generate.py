"""Regenerate client_pb2.py (and its type stub client_pb2.pyi) from client.proto.

Run `python -m realtime.protocol.generate` after installing the `protogen` extra
(`pip install -e '.[protogen]' -c constraints.txt`). The generated module is committed so
that running the hub needs only the protobuf runtime; the stub is what mypy reads (protobuf
builds the message classes at import time, so the module itself declares none).
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    from grpc_tools import protoc

    root = Path(__file__).resolve().parents[2]
    proto = Path("realtime/protocol/client.proto")
    return protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{root}",
            f"--python_out={root}",
            f"--pyi_out={root}",
            str(root / proto),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
