"""Database helpers shared by every domain: the engine, DDL in migrations, unique-violation checks."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction

from hub.platform.settings import get_settings

_pool_users = 0


async def start_pool(min_size: int = 0, max_size: int = 20) -> None:
    """Start the shared asyncpg pool; app and worker in one process (tests) share it.

    With `min_size=0` nothing is connected up front, so a process starts while Postgres is
    down and connects once it is back. Every connection has a connect timeout and a command
    timeout (`HUB_DB_*_TIMEOUT_SECONDS`): a paused server cannot hang a caller forever.
    A connection goes back to the pool without asyncpg's reset query (see `_keep_session`).
    """
    global _pool_users
    _pool_users += 1
    if engine().pool is None:
        settings = get_settings()
        await engine().start_connection_pool(
            min_size=min_size,
            max_size=max_size,
            timeout=settings.db_connect_timeout_seconds,
            command_timeout=settings.db_command_timeout_seconds,
            reset=_keep_session,
        )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool: nothing beyond what asyncpg
    always does (an open transaction is rolled back, listeners are dropped).

    asyncpg's default reset sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL` on every release: one more round trip and statement per query made outside a
    transaction, a third of the worker's database work while runs stream. The hub keeps no
    session state to undo: its advisory locks are transaction-scoped
    (`pg_advisory_xact_lock`), `SET CONSTRAINTS` lasts one transaction, and it neither
    LISTENs nor opens cursors WITH HOLD. Code that does must use a connection of its own.
    """


async def close_pool() -> None:
    global _pool_users
    _pool_users = max(0, _pool_users - 1)
    if _pool_users == 0 and engine().pool is not None:
        await engine().close_connection_pool()


_engine: PostgresEngine | None = None


def engine() -> PostgresEngine:
    """piccolo_conf.DB, looked up once (Piccolo's finder re-imports the config on every call)."""
    global _engine
    if _engine is None:
        db = engine_finder()
        assert isinstance(db, PostgresEngine), "piccolo_conf.DB must be a PostgresEngine"
        _engine = db
    return _engine


def transaction() -> AbstractAsyncContextManager[PostgresTransaction]:
    """`async with transaction():` a transaction on the hub's engine (nested: the outer one's).

    The same object as `engine().transaction()`, typed for what it does: Piccolo annotates
    its `__aexit__` as returning `bool`, which tells a type checker that an exception raised
    in the block may be swallowed (it never is), so every `raise` and `return` inside a block
    would read as one the code after it may run without.
    """
    return engine().transaction()


async def run_ddl(sql: str) -> None:
    """Run a migration's SQL, one statement at a time, inside the migration's transaction.

    Statements are separated by a line holding only `;;` so that function bodies and
    `DO $$ ... $$` blocks can contain semicolons.
    """
    db = engine()
    for statement in sql.split("\n;;\n"):
        if statement.strip():
            await db.run_ddl(statement)


class UnstorableText(ValueError):
    """Input text PostgreSQL cannot store (NUL, unpaired surrogates): the caller's mistake."""


def sql_migration(migration_id: str, app_name: str, description: str, sql: str) -> Any:
    """A Piccolo migration that runs `sql` (statements separated by `;;` lines, see run_ddl).

    Every migration of the hub is hand-written SQL, so the schema's constraints, triggers and
    indexes are stated exactly; each migration module's `forwards()` returns this.
    """
    from piccolo.apps.migrations.auto.migration_manager import MigrationManager

    manager = MigrationManager(
        migration_id=migration_id, app_name=app_name, description=description
    )

    async def run() -> None:
        await run_ddl(sql)

    manager.add_raw(run)
    return manager


def storable(value: Any) -> bool:
    """PostgreSQL text holds neither NUL characters nor unpaired UTF-16 surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, list | tuple):
        return all(storable(v) for v in value)
    return True


async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    """Raw parametrised query ($1, $2 ...) honouring the current Piccolo transaction.

    Text PostgreSQL cannot store is refused with `UnstorableText` before anything is sent
    (the app answers it with a 400), so such input is a clear client error in every domain
    instead of a server error.
    """
    if not all(storable(a) for a in args):
        raise UnstorableText(
            "Text must not contain NUL characters or invalid Unicode (unpaired surrogates)."
        )
    db = engine()
    tx = db.current_transaction.get()
    if tx is not None:
        rows = await tx.connection.fetch(sql, *args)
    elif db.pool is not None:
        async with db.pool.acquire(timeout=get_settings().db_command_timeout_seconds) as conn:
            rows = await conn.fetch(sql, *args)
    else:
        conn = await db.get_new_connection()
        try:
            rows = await conn.fetch(sql, *args)
        finally:
            await conn.close()
    return [dict(r) for r in rows]


async def fetchrow(sql: str, *args: Any) -> dict[str, Any] | None:
    rows = await fetch(sql, *args)
    return rows[0] if rows else None


def is_unique_violation(exc: BaseException, constraint: str | None = None) -> bool:
    if not isinstance(exc, asyncpg.exceptions.UniqueViolationError):
        return False
    return constraint is None or getattr(exc, "constraint_name", None) == constraint
