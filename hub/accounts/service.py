"""Accounts rules: registration, password login with throttling, refresh rotation, logout."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import structlog

from hub import mail
from hub.accounts import hooks, verification
from hub.accounts.emails import email_digest, looks_like_email, normalise_email
from hub.accounts.passwords import hash_password, needs_rehash, verify_password
from hub.accounts.schemas import PasswordChange, ProfilePatch, RegisterRequest, UserOut
from hub.platform import auth
from hub.platform.db import fetch, fetchrow, is_unique_violation, transaction
from hub.platform.errors import Problem, conflict, not_found, too_many, unauthorized
from hub.platform.redis import get_redis
from hub.platform.settings import get_settings

log = structlog.get_logger(__name__)

RESERVED_HANDLES = frozenset(
    {
        "admin",
        "administrator",
        "moderator",
        "support",
        "system",
        "root",
        "lobby",
        "me",
        "api",
        "betterprompt",
    }
)

USER_COLUMNS = "id, email, handle, display_name, bio, roles, created_at, email_verified_at"


def user_out(row: dict[str, Any], *, include_email: bool = True) -> UserOut:
    return UserOut(
        id=str(row["id"]),
        handle=row["handle"],
        display_name=row["display_name"],
        bio=row["bio"],
        roles=list(row["roles"] or []),
        created_at=row["created_at"],
        email=row["email"] if include_email else None,
        email_verified=row["email_verified_at"] is not None if include_email else None,
    )


def _hash_refresh(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _new_refresh_token(user_id: str, family_id: str) -> str:
    token = secrets.token_urlsafe(32)
    ttl = get_settings().refresh_ttl_seconds
    await fetch(
        'INSERT INTO refresh_tokens (token_hash, family_id, "user", expires_at) VALUES ($1, $2, $3, $4)',
        _hash_refresh(token),
        uuid.UUID(family_id),
        uuid.UUID(user_id),
        datetime.now(UTC) + timedelta(seconds=ttl),
    )
    return token


async def _issue_pair(row: dict[str, Any], family_id: str | None = None) -> tuple[str, str, int]:
    family_id = family_id or str(uuid.uuid4())
    refresh = await _new_refresh_token(str(row["id"]), family_id)
    access, ttl = auth.issue_access_token(str(row["id"]), list(row["roles"] or []), family_id)
    return access, refresh, ttl


def _email_or_400(value: str) -> str:
    email = normalise_email(value)
    if not looks_like_email(email):
        raise Problem(
            400,
            "bad-request",
            "Bad request",
            "This email address is not valid once normalised; check it for typos.",
            invalid_params=[{"name": "email", "reason": "not an address"}],
        )
    return email


async def register(
    body: RegisterRequest, *, send_verification: bool = True
) -> tuple[UserOut, str, str, int]:
    """Create the account (signed in at once) and mail a verification link in the same
    transaction; starter credits come with the verification, not before. Demo data passes
    `send_verification=False` and verifies with `verification.mark_verified`."""
    email = _email_or_400(body.email)
    if body.handle.lower() in RESERVED_HANDLES:
        raise conflict(f"The handle '{body.handle}' is reserved; choose another.", "handle-taken")
    password_hash = await hash_password(body.password)
    display_name = (body.display_name or body.handle).strip() or body.handle
    try:
        async with transaction():
            row = await fetchrow(
                f"INSERT INTO users (email, handle, display_name, password_hash) VALUES ($1, $2, $3, $4) "
                f"RETURNING {USER_COLUMNS}",
                email,
                body.handle,
                display_name,
                password_hash,
            )
            assert row is not None
            await hooks.run(hooks.on_user_registered, str(row["id"]))
            mail_id = None
            if send_verification:
                mail_id = await verification.queue_verification_mail(row["id"], email, body.handle)
            access, refresh, ttl = await _issue_pair(row)
    except asyncpg.exceptions.UniqueViolationError as exc:
        if is_unique_violation(exc, "users_email_key"):
            raise conflict(
                "An account with this email already exists; sign in instead.", "email-taken"
            ) from exc
        if is_unique_violation(exc, "users_handle_lower_key"):
            raise conflict(
                f"The handle '{body.handle}' is taken; choose another.", "handle-taken"
            ) from exc
        raise
    mail.deliver_soon([mail_id] if mail_id else [])
    log.info("user.registered", user_id=str(row["id"]))
    return user_out(row), access, refresh, ttl


def _throttle_keys(email: str, ip: str) -> tuple[str, str]:
    """Counters per address (normalised: the same form the account is looked up by) and IP."""
    digest = email_digest(normalise_email(email))[:32]
    return f"hub:login:fail:acct:{digest}", f"hub:login:fail:ip:{ip}"


async def clear_login_failures(email: str) -> None:
    await get_redis().delete(_throttle_keys(email, "-")[0])


async def _check_throttle(email: str, ip: str) -> None:
    settings = get_settings()
    acct_key, ip_key = _throttle_keys(email, ip)
    redis = get_redis()
    acct, by_ip = await redis.mget([acct_key, ip_key])
    for count, limit, key in (
        (acct, settings.login_max_failures_per_account, acct_key),
        (by_ip, settings.login_max_failures_per_ip, ip_key),
    ):
        if count is not None and int(count) >= limit:
            ttl = await redis.ttl(key)
            retry = max(1, ttl if ttl and ttl > 0 else settings.login_window_seconds)
            raise too_many(
                f"Too many failed sign-in attempts. Try again in {retry} seconds or reset your password.",
                retry,
            )


async def _record_failure(email: str, ip: str) -> None:
    window = get_settings().login_window_seconds
    pipe = get_redis().pipeline(transaction=False)
    for key in _throttle_keys(email, ip):
        pipe.set(key, 0, ex=window, nx=True)  # the window starts at the first failure
        pipe.incr(key)
    await pipe.execute()


async def login(email: str, password: str, ip: str) -> tuple[UserOut, str, str, int]:
    await _check_throttle(email, ip)
    row = await fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1 AND deleted_at IS NULL",
        normalise_email(email),
    )
    ok = await verify_password(row["password_hash"] if row else None, password)
    if not ok or row is None:
        await _record_failure(email, ip)
        raise unauthorized("Email or password is incorrect.")
    await get_redis().delete(_throttle_keys(email, ip)[0])
    if needs_rehash(row["password_hash"]):
        new_hash = await hash_password(password)
        await fetch("UPDATE users SET password_hash = $1 WHERE id = $2", new_hash, row["id"])
    access, refresh, ttl = await _issue_pair(row)
    log.info("user.login", user_id=str(row["id"]))
    return user_out(row), access, refresh, ttl


_INVALID_REFRESH = "This refresh token is invalid or expired; sign in again."


async def refresh(token: str) -> tuple[str, str, int]:
    """Rotate: the presented token is used up and a new pair in the same family is returned.

    Presenting an already-used token means it leaked: the whole family is revoked.
    """
    token_hash = _hash_refresh(token)
    async with transaction():
        current = await fetchrow(
            "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL "
            'AND revoked_at IS NULL AND expires_at > now() RETURNING family_id, "user"',
            token_hash,
        )
        if current is not None:
            row = await fetchrow(
                f"SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL",
                current["user"],
            )
            if row is None:
                raise unauthorized(_INVALID_REFRESH)
            return await _issue_pair(row, str(current["family_id"]))
    await _detect_reuse(token_hash)
    raise unauthorized(_INVALID_REFRESH)


async def _detect_reuse(token_hash: str) -> None:
    stale = await fetchrow(
        'SELECT family_id, "user", used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1',
        token_hash,
    )
    if stale is not None and stale["used_at"] is not None and stale["revoked_at"] is None:
        family = str(stale["family_id"])
        await revoke_family(family)
        log.warning("auth.refresh_reuse", user_id=str(stale["user"]), family=family)


async def revoke_family(family_id: str) -> None:
    await fetch(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
        uuid.UUID(family_id),
    )
    await auth.revoke_families([family_id])


async def logout(user: auth.CurrentUser, everywhere: bool) -> None:
    if everywhere:
        rows = await fetch(
            'WITH r AS (UPDATE refresh_tokens SET revoked_at = now() WHERE "user" = $1 AND revoked_at IS NULL '
            "RETURNING family_id) SELECT DISTINCT family_id FROM r",
            uuid.UUID(user.id),
        )
        await auth.revoke_families([str(r["family_id"]) for r in rows] + [user.family])
        await auth.revoke_user_tokens_before_now(user.id)
    elif user.family:
        await revoke_family(user.family)
    await auth.revoke_access(user)
    await hooks.run(hooks.on_user_signed_out, user.id)
    log.info("user.logout", user_id=user.id, everywhere=everywhere)


async def realtime_token_from_refresh(token: str) -> tuple[str, int]:
    """A connection token for a client holding only a refresh token; the token is not consumed."""
    token_hash = _hash_refresh(token)
    current = await fetchrow(
        'SELECT t.family_id, u.id FROM refresh_tokens t JOIN users u ON u.id = t."user" '
        "WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > now() "
        "AND u.deleted_at IS NULL",
        token_hash,
    )
    if current is None:
        await _detect_reuse(token_hash)
        raise unauthorized(_INVALID_REFRESH)
    return auth.issue_realtime_token(str(current["id"]), str(current["family_id"]))


async def get_profile(user_id: str) -> UserOut:
    row = await fetchrow(
        f"SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL", uuid.UUID(user_id)
    )
    if row is None:
        raise not_found("This account")
    return user_out(row)


async def update_profile(user_id: str, patch: ProfilePatch) -> UserOut:
    changes: dict[str, Any] = {}
    if patch.display_name is not None:
        name = patch.display_name.strip()
        if not name:
            raise Problem(
                400,
                "bad-request",
                "Bad request",
                "display_name cannot be blank.",
                invalid_params=[{"name": "display_name", "reason": "blank"}],
            )
        changes["display_name"] = name
    if patch.bio is not None:
        changes["bio"] = patch.bio
    if patch.handle is not None:
        if patch.handle.lower() in RESERVED_HANDLES:
            raise conflict(
                f"The handle '{patch.handle}' is reserved; choose another.", "handle-taken"
            )
        changes["handle"] = patch.handle
    if not changes:
        return await get_profile(user_id)
    assignments = ", ".join(f"{col} = ${i + 2}" for i, col in enumerate(changes))
    try:
        row = await fetchrow(
            f"UPDATE users SET {assignments}, updated_at = now() WHERE id = $1 AND deleted_at IS NULL "
            f"RETURNING {USER_COLUMNS}",
            uuid.UUID(user_id),
            *changes.values(),
        )
    except asyncpg.exceptions.UniqueViolationError as exc:
        raise conflict(
            f"The handle '{patch.handle}' is taken; choose another.", "handle-taken"
        ) from exc
    if row is None:
        raise not_found("This account")
    return user_out(row)


async def prune_refresh_tokens() -> int:
    """Delete refresh tokens that expired more than a day ago (kept a day for reuse detection)."""
    rows = await fetch(
        "WITH d AS (DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day' RETURNING 1) "
        "SELECT count(*) AS n FROM d"
    )
    return int(rows[0]["n"])


async def export_user(user_id: str) -> dict[str, Any]:
    """Everything stored about the user (GDPR Art. 15/20), gathered from every domain."""
    row = await fetchrow(
        f"SELECT {USER_COLUMNS}, updated_at FROM users WHERE id = $1 AND deleted_at IS NULL",
        uuid.UUID(user_id),
    )
    if row is None:
        raise not_found("This account")
    sessions = await fetch(
        'SELECT family_id, created_at, expires_at, used_at, revoked_at FROM refresh_tokens WHERE "user" = $1 '
        "ORDER BY created_at",
        uuid.UUID(user_id),
    )
    out: dict[str, Any] = {
        "exported_at": datetime.now(UTC).isoformat(),
        "profile": {
            "id": str(row["id"]),
            "email": row["email"],
            "email_verified_at": (
                row["email_verified_at"].isoformat() if row["email_verified_at"] else None
            ),
            "handle": row["handle"],
            "display_name": row["display_name"],
            "bio": row["bio"],
            "roles": list(row["roles"] or []),
            "created_at": row["created_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat(),
        },
        "sessions": [
            {
                k: (v.isoformat() if isinstance(v, datetime) else str(v) if v is not None else None)
                for k, v in s.items()
            }
            for s in sessions
        ],
    }
    for name, exporter in hooks.exporters.items():
        out[name] = await exporter(user_id)
    return msgspec.to_builtins(out)


async def erase_user(user: auth.CurrentUser) -> None:
    """GDPR erasure: personal data removed or anonymised; ledger entries stay, without personal data."""
    uid = uuid.UUID(user.id)
    async with transaction():
        row = await fetchrow(
            "UPDATE users SET email = $2, handle = $3, display_name = 'Deleted user', bio = '', "
            "password_hash = '!', roles = '{}', deleted_at = now(), updated_at = now() "
            "WHERE id = $1 AND deleted_at IS NULL RETURNING id",
            uid,
            f"deleted-{uid.hex}@invalid",
            f"deleted_{uid.hex[:22]}",
        )
        if row is None:
            raise not_found("This account")
        await fetch('DELETE FROM refresh_tokens WHERE "user" = $1', uid)
        await fetch("DELETE FROM email_tokens WHERE user_id = $1", uid)
        await hooks.run(hooks.on_user_erased, user.id)
    await auth.revoke_user_tokens_before_now(user.id)
    await hooks.run(hooks.on_user_signed_out, user.id)
    log.info("user.erased", user_id=user.id)


async def change_password(user: auth.CurrentUser, body: PasswordChange) -> tuple[str, str, int]:
    """Check the current password, store the new one, end every session (a stolen session
    must not survive a password change) and return a fresh pair for the caller's device."""
    row = await fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE id = $1 AND deleted_at IS NULL",
        uuid.UUID(user.id),
    )
    if row is None:
        raise not_found("This account")
    if not await verify_password(row["password_hash"], body.current_password):
        raise Problem(
            403,
            "wrong-password",
            "Wrong password",
            "Your current password is not correct.",
            invalid_params=[{"name": "current_password", "reason": "incorrect"}],
        )
    new_hash = await hash_password(body.new_password)
    await fetch(
        "UPDATE users SET password_hash = $1, updated_at = now() WHERE id = $2",
        new_hash,
        row["id"],
    )
    await logout(user, everywhere=True)
    # Issued after the "revoked before" mark, so this pair is valid while older ones are not.
    await asyncio.sleep(0.01)
    access, refresh_token, ttl = await _issue_pair(row)
    log.info("user.password_changed", user_id=user.id)
    return access, refresh_token, ttl
