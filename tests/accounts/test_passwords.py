"""Password hashing: the configured Argon2id parameters, and old hashes upgraded at sign-in."""

from __future__ import annotations

import uuid

from argon2 import PasswordHasher

from hub.accounts import passwords
from hub.platform.db import fetchrow
from hub.platform.settings import get_settings


async def test_new_hashes_use_the_configured_argon2id_parameters(client, register):
    acct = await register()
    row = await fetchrow("SELECT password_hash FROM users WHERE id = $1", uuid.UUID(acct.id))
    s = get_settings()
    assert row["password_hash"].startswith(
        f"$argon2id$v=19$m={s.argon2_memory_kib},t={s.argon2_time_cost},p={s.argon2_parallelism}$"
    )
    assert await passwords.verify_password(row["password_hash"], acct["password"])
    assert not await passwords.verify_password(row["password_hash"], "wrong password here")
    assert not await passwords.verify_password(None, acct["password"])


async def test_a_hash_with_older_parameters_still_signs_in_and_is_upgraded(client, register):
    acct = await register()
    legacy = PasswordHasher().hash(acct["password"])  # argon2-cffi's defaults: 64 MiB, 3 passes
    await fetchrow("UPDATE users SET password_hash = $1 WHERE id = $2", legacy, uuid.UUID(acct.id))

    r = await client.post(
        "/auth/login", json={"email": acct["email"], "password": acct["password"]}
    )
    assert r.status_code == 200, r.text

    row = await fetchrow("SELECT password_hash FROM users WHERE id = $1", uuid.UUID(acct.id))
    assert row["password_hash"] != legacy
    assert not passwords.needs_rehash(row["password_hash"])
    r = await client.post(
        "/auth/login", json={"email": acct["email"], "password": acct["password"]}
    )
    assert r.status_code == 200, r.text
