"""A real `arq` worker process for tests: the production settings on a queue of its own."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    def __init__(self, proc: subprocess.Popen[bytes], queue: str, log_path: Path) -> None:
        self.proc = proc
        self.queue = queue
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def worker_process(hub_env: dict[str, str], log_dir: Path, **env: str) -> Iterator[WorkerProcess]:
    """Start `arq tests.runs.kill_worker.WorkerSettings` with the session's DATABASE_URL and
    REDIS_URL, wait until it is up, and kill it on exit."""
    queue = f"arq:test-{uuid.uuid4().hex[:8]}"
    log_path = log_dir / f"worker-{queue.rsplit('-', 1)[1]}.log"
    full_env = {
        **os.environ,
        **hub_env,
        "HUB_TEST_QUEUE": queue,
        "HUB_LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "arq", "tests.runs.kill_worker.WorkerSettings"],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while b"worker.started" not in log_path.read_bytes():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "worker process did not start"
            time.sleep(0.05)
        yield WorkerProcess(proc, queue, log_path)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
