"""Password hashing: Argon2id with parameters from settings, bounded to the machine's cores.

Argon2 is memory-hard on purpose: each hash holds `memory_kib` of RAM and a core for tens of
milliseconds. Run unbounded in the default thread pool, a crowd signing in at once makes every
login wait behind every other one and multiplies the memory (argon2-cffi's default of 64 MiB
and 4 lanes per hash took a 2-core app from 121 MB to 500 MB). Here hashes run in a pool of
`password_hash_threads` threads (default: one per core), so at most that many hashes hold
memory at a time and the rest queue in order.

The defaults are OWASP's recommended floor for Argon2id (19 MiB, 2 passes, 1 lane); measure
what the target machine affords with `python -m hub.accounts.passwords` and raise them with
`HUB_ARGON2_*`. Hashes made with other parameters still verify and are re-hashed with the
current ones at the next successful sign-in.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hub.platform.settings import get_settings

T = TypeVar("T")


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    s = get_settings()
    return PasswordHasher(
        time_cost=s.argon2_time_cost,
        memory_cost=s.argon2_memory_kib,
        parallelism=s.argon2_parallelism,
        type=Type.ID,
    )


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    threads = get_settings().password_hash_threads or os.cpu_count() or 1
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so the response time does not reveal
    which emails have accounts."""
    return _hasher().hash("not-a-real-password-0000")


async def _in_pool(fn: Callable[..., T], *args: str) -> T:
    return await asyncio.get_running_loop().run_in_executor(_pool(), fn, *args)


async def hash_password(password: str) -> str:
    return await _in_pool(_hasher().hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches `stored_hash`; a missing hash costs the same time."""
    try:
        await _in_pool(_hasher().verify, stored_hash or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return stored_hash is not None


def needs_rehash(stored_hash: str) -> bool:
    return _hasher().check_needs_rehash(stored_hash)


def reset() -> None:
    """Forget the hasher and pool (tests that change the settings)."""
    _hasher.cache_clear()
    _dummy_hash.cache_clear()
    if _pool.cache_info().currsize:
        _pool().shutdown(wait=False)
    _pool.cache_clear()


def calibrate() -> None:
    """Print how long one hash takes on this machine for OWASP's Argon2id parameter sets."""
    candidates = [  # (memory KiB, passes): OWASP Password Storage Cheat Sheet, Argon2id, 1 lane
        (47104, 1),
        (19456, 2),
        (12288, 3),
        (9216, 4),
        (7168, 5),
        (65536, 3),
    ]
    print(f"{'memory':>8} {'passes':>6} {'ms/hash':>8}  logins/s per core")
    for memory, passes in candidates:
        hasher = PasswordHasher(time_cost=passes, memory_cost=memory, parallelism=1, type=Type.ID)
        hasher.hash("warm-up")
        n = 10
        start = time.perf_counter()
        for _ in range(n):
            hasher.hash("calibration-password")
        ms = (time.perf_counter() - start) / n * 1000
        print(f"{memory // 1024:>6}Mi {passes:>6} {ms:>8.1f}  {1000 / ms:>6.0f}")


if __name__ == "__main__":
    calibrate()
