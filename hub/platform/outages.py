"""What this process knows about its dependencies (Redis, PostgreSQL) being down.

- `redis` and `postgres` are `Dependency` objects: code that sees a dependency fail or answer
  calls `failed()` / `answered()`, and each change of state is logged once
  (`dependency.down` / `dependency.up` with the outage's length), not once per call.
- `Dependency.fail_fast()`: for a short cool-off after a failure, calls raise at once
  instead of each waiting for its own timeout; so while Redis is paused a REST request costs
  one timeout at most, and a 503 comes back well within 2 s.
- `outage_of(exc)` says whether an exception means "a dependency is unreachable" (and which):
  the REST layer answers those with `service_unavailable()` (503 + Retry-After), never 500.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import structlog
from redis import exceptions as redis_errors

from hub.platform.errors import Problem

log = structlog.get_logger(__name__)

#: Seconds a client is asked to wait before retrying a request that met an outage.
RETRY_AFTER_SECONDS = 5


class Unavailable(redis_errors.ConnectionError):
    """Raised without trying while a dependency is known to be down (the cool-off)."""


class Dependency:
    """The up/down state of one dependency as this process last saw it."""

    def __init__(self, name: str, cooloff_seconds: float = 1.0) -> None:
        self.name = name
        self.cooloff = cooloff_seconds
        self.down_since: float | None = None
        self.open_until = 0.0
        self.failures = 0

    @property
    def is_down(self) -> bool:
        return self.down_since is not None

    def fail_fast(self) -> None:
        """Raise `Unavailable` during the cool-off after a failure (then let one call try)."""
        if self.down_since is not None and time.monotonic() < self.open_until:
            raise Unavailable(f"{self.name} is unavailable")

    def failed(self, exc: BaseException | None = None) -> None:
        now = time.monotonic()
        self.open_until = now + self.cooloff
        self.failures += 1
        if self.down_since is None:
            self.down_since = now
            log.warning(
                "dependency.down",
                dependency=self.name,
                error=f"{type(exc).__name__}: {exc}"[:200] if exc is not None else None,
            )

    def answered(self) -> None:
        if self.down_since is not None:
            log.warning(
                "dependency.up",
                dependency=self.name,
                down_seconds=round(time.monotonic() - self.down_since, 2),
                failures=self.failures,
            )
            self.down_since = None
            self.failures = 0
            self.open_until = 0.0


redis = Dependency("redis")
postgres = Dependency("postgres")

REDIS_ERRORS: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    # A Redis Cluster between a master's failure and its replica's promotion (HUB_REDIS_CLUSTER).
    redis_errors.ClusterError,
    redis_errors.TryAgainError,
    redis_errors.SlotNotCoveredError,
)
POSTGRES_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
)


def outage_of(exc: BaseException | None) -> str | None:
    """'redis' or 'postgres' when `exc` (or what caused it) means that dependency could not
    be reached in time; None for anything else (a bug stays a bug) and for no exception."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, REDIS_ERRORS):
            return "redis"
        if isinstance(current, POSTGRES_ERRORS):
            return "postgres"
        if isinstance(current, asyncio.TimeoutError | OSError) and _raised_in_db_driver(current):
            # A pool acquire or command timeout, or a refused/reset/missing socket: asyncpg
            # raises these bare (Redis errors are wrapped by redis-py and matched above).
            return "postgres"
        current = current.__cause__ or current.__context__
    return None


def _raised_in_db_driver(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.startswith(("asyncpg", "piccolo", "hub.platform.db")):
            return True
        tb = tb.tb_next
    return False


def service_unavailable(retry_after: int = RETRY_AFTER_SECONDS) -> Problem:
    """The 503 every REST route answers while a dependency it needs is unreachable."""
    return Problem(
        503,
        "service-unavailable",
        "Service temporarily unavailable",
        "The hub could not answer this request because a service it relies on is briefly "
        f"unavailable. Please retry in {retry_after} seconds.",
        headers={"Retry-After": str(retry_after)},
        retry_after=retry_after,
    )
