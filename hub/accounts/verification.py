"""Proving control of an email address: verification and password reset by mailed link.

Both send a link holding a random single-use token; only its SHA-256 is stored, with the
address it was sent to, so a token proves control of that address and nothing else (a token
for an address the account no longer has is refused). Tokens are consumed by one guarded
UPDATE (`used_at IS NULL AND expires_at > now()`), so two concurrent uses succeed once.
Sending a new link supersedes the older unused ones of the same purpose.

- Verification: mailed at registration (48 h, `HUB_EMAIL_VERIFY_TTL_SECONDS`), again on
  request (at most one per `HUB_MAIL_RESEND_SECONDS` per account). Verifying runs the
  `on_email_verified` hooks in the same transaction: the ledger grants the starter credits
  there, once per address.
- Password reset: asked for by address (the answer is the same whether or not an account
  uses it; one mail per address per `HUB_MAIL_RESEND_SECONDS`), valid 1 h
  (`HUB_PASSWORD_RESET_TTL_SECONDS`). Setting the new password revokes every session and
  access token of the account and closes its websockets.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from hub import mail, outbox
from hub.accounts import hooks
from hub.accounts.emails import email_digest, normalise_email
from hub.accounts.passwords import hash_password
from hub.platform import auth
from hub.platform.db import fetch, fetchrow, transaction
from hub.platform.errors import Problem, conflict, not_found, too_many
from hub.platform.redis import get_redis
from hub.platform.settings import get_settings

log = structlog.get_logger(__name__)

VERIFY = "verify_email"
RESET = "password_reset"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _invalid(what: str) -> Problem:
    return Problem(
        400,
        "invalid-token",
        "Invalid or expired link",
        f"This {what} link is invalid, expired or already used. Ask for a new one.",
        invalid_params=[{"name": "token", "reason": "invalid, expired or used"}],
    )


async def _new_token(user_id: uuid.UUID, purpose: str, email: str, ttl_seconds: int) -> str:
    """Inside the caller's transaction: supersede the older unused links, store a new one."""
    await fetch(
        "UPDATE email_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 "
        "AND used_at IS NULL",
        user_id,
        purpose,
    )
    token = secrets.token_urlsafe(32)
    await fetch(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, email, expires_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        _hash(token),
        user_id,
        purpose,
        email,
        datetime.now(UTC) + timedelta(seconds=ttl_seconds),
    )
    return token


async def _consume(token: str, purpose: str) -> dict[str, Any] | None:
    return await fetchrow(
        "UPDATE email_tokens SET used_at = now() WHERE token_hash = $1 AND purpose = $2 "
        "AND used_at IS NULL AND expires_at > now() RETURNING user_id, email",
        _hash(token),
        purpose,
    )


async def _throttle(key: str) -> None:
    """One mail per key per `mail_resend_seconds`: 429 with Retry-After otherwise."""
    seconds = get_settings().mail_resend_seconds
    if seconds <= 0:
        return
    redis = get_redis()
    if not await redis.set(key, b"1", ex=seconds, nx=True):
        ttl = await redis.ttl(key)
        retry = max(1, ttl if ttl and ttl > 0 else seconds)
        raise too_many(f"A link was sent moments ago; you can ask again in {retry} seconds.", retry)


# --- verification ----------------------------------------------------------------------


async def queue_verification_mail(user_id: uuid.UUID, email: str, handle: str) -> str:
    """Inside the caller's transaction (registration, resend): the outbox id of the mail."""
    settings = get_settings()
    token = await _new_token(user_id, VERIFY, email, settings.email_verify_ttl_seconds)
    hours = settings.email_verify_ttl_seconds // 3600
    link = f"{settings.public_url.rstrip('/')}/#verify-email={token}"
    text = (
        f"Hi {handle},\n\n"
        "Confirm that this is your email address for BetterPrompt Hub by opening this link:\n\n"
        f"{link}\n\n"
        f"The link works once, within {hours} hours. Your starter credits are added when you "
        "confirm.\n\nIf you did not create an account, ignore this message.\n"
    )
    return await mail.queue(
        to=email,
        subject="Confirm your email for BetterPrompt Hub",
        text=text,
        kind=VERIFY,
        user_id=str(user_id),
    )


async def verify_email(token: str) -> str:
    """Mark the address verified (once); returns the user id. Starter credits follow."""
    async with outbox.transaction():
        used = await _consume(token, VERIFY)
        if used is None:
            raise _invalid("verification")
        row = await fetchrow(
            "UPDATE users SET email_verified_at = coalesce(email_verified_at, now()), "
            "updated_at = now() WHERE id = $1 AND email = $2 AND deleted_at IS NULL "
            "RETURNING id, email",
            used["user_id"],
            used["email"],
        )
        if row is None:
            raise _invalid("verification")
        user_id = str(row["id"])
        await hooks.run_email(hooks.on_email_verified, user_id, row["email"])
    log.info("user.email_verified", user_id=user_id)
    return user_id


async def mark_verified(user_id: str) -> bool:
    """Verify without a link (demo data, support tooling); False if it already was."""
    async with outbox.transaction():
        row = await fetchrow(
            "UPDATE users SET email_verified_at = now(), updated_at = now() WHERE id = $1 "
            "AND email_verified_at IS NULL AND deleted_at IS NULL RETURNING id, email",
            uuid.UUID(user_id),
        )
        if row is None:
            return False
        await fetch(
            "UPDATE email_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 "
            "AND used_at IS NULL",
            row["id"],
            VERIFY,
        )
        await hooks.run_email(hooks.on_email_verified, user_id, row["email"])
    return True


async def resend_verification(user_id: str) -> str:
    """Send a new verification link (the older ones stop working); returns the address."""
    uid = uuid.UUID(user_id)
    row = await fetchrow(
        "SELECT email, handle, email_verified_at FROM users WHERE id = $1 AND deleted_at IS NULL",
        uid,
    )
    if row is None:
        raise not_found("This account")
    if row["email_verified_at"] is not None:
        raise conflict("Your email address is already verified.", "already-verified")
    await _throttle(f"hub:mail:verify:{user_id}")
    async with transaction():
        mail_id = await queue_verification_mail(uid, row["email"], row["handle"])
    mail.deliver_soon([mail_id])
    log.info("user.verification_resent", user_id=user_id)
    return str(row["email"])


# --- password reset --------------------------------------------------------------------


async def request_password_reset(email: str) -> None:
    """Mail a reset link if an account uses this address; the caller cannot tell either way."""
    address = normalise_email(email)
    await _throttle(f"hub:mail:reset:{email_digest(address)[:32]}")
    row = await fetchrow(
        "SELECT id, handle FROM users WHERE email = $1 AND deleted_at IS NULL", address
    )
    if row is None:
        return
    settings = get_settings()
    async with transaction():
        token = await _new_token(row["id"], RESET, address, settings.password_reset_ttl_seconds)
        link = f"{settings.public_url.rstrip('/')}/reset-password#reset-password={token}"
        minutes = settings.password_reset_ttl_seconds // 60
        text = (
            f"Hi {row['handle']},\n\n"
            "Someone (hopefully you) asked to reset the password of your BetterPrompt Hub "
            f"account. Choose a new password here:\n\n{link}\n\n"
            f"The link works once, within {minutes} minutes, and signs you out everywhere. "
            "If you did not ask for this, ignore this message: your password stays as it is.\n"
        )
        mail_id = await mail.queue(
            to=address,
            subject="Reset your BetterPrompt Hub password",
            text=text,
            kind=RESET,
            user_id=str(row["id"]),
        )
    mail.deliver_soon([mail_id])
    log.info("user.password_reset_requested", user_id=str(row["id"]))


async def confirm_password_reset(token: str, password: str) -> str:
    """Set the new password, end every session; returns the user id."""
    password_hash = await hash_password(password)
    async with transaction():
        used = await _consume(token, RESET)
        if used is None:
            raise _invalid("password reset")
        row = await fetchrow(
            "UPDATE users SET password_hash = $3, updated_at = now() "
            "WHERE id = $1 AND email = $2 AND deleted_at IS NULL RETURNING id, email",
            used["user_id"],
            used["email"],
            password_hash,
        )
        if row is None:
            raise _invalid("password reset")
        families = await fetch(
            'WITH r AS (UPDATE refresh_tokens SET revoked_at = now() WHERE "user" = $1 '
            "AND revoked_at IS NULL RETURNING family_id) SELECT DISTINCT family_id FROM r",
            row["id"],
        )
        await fetch(
            "UPDATE email_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 "
            "AND used_at IS NULL",
            row["id"],
            RESET,
        )
    user_id = str(row["id"])
    await auth.revoke_families([str(f["family_id"]) for f in families])
    await auth.revoke_user_tokens_before_now(user_id)
    await hooks.run(hooks.on_user_signed_out, user_id)
    from hub.accounts.service import clear_login_failures

    await clear_login_failures(row["email"])
    log.info("user.password_reset", user_id=user_id)
    return user_id


async def prune_tokens() -> int:
    """Delete links that expired more than a day ago."""
    rows = await fetch(
        "WITH d AS (DELETE FROM email_tokens WHERE expires_at < now() - interval '1 day' "
        "RETURNING 1) SELECT count(*) AS n FROM d"
    )
    return int(rows[0]["n"])
