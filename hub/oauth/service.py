"""Signing in with a provider: the flow's state, and what an identity means for accounts.

**State.** `start` keeps, in Redis under a random `state` for `HUB_OAUTH_STATE_TTL_SECONDS`:
the provider, the PKCE verifier, the OIDC nonce, the SHA-256 of a `flow_secret` handed only to
the browser that started, and (when linking) the signed-in user. The callback takes the state
with GETDEL, so a state works once; it must come back with the same `flow_secret`, so a
sign-in started by someone else (login CSRF: an attacker's own code planted in a victim's
browser) is refused.

**Who the identity is.** In this order:
1. an identity already linked (provider, subject): that account signs in;
2. a linking flow (started while signed in): the identity joins the signed-in account;
3. the provider vouches for an address (verified) and an account uses it: nothing is linked
   yet. A single-use link is mailed to that address; following it links and signs in. So
   controlling a provider account with someone's address is not enough to enter theirs;
4. otherwise a new account with that verified address (email verified, starter credits as
   for any verified address, no password until a reset sets one).
A provider that vouches for no address cannot create an account (422).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog

from hub import mail, outbox
from hub.accounts import hooks
from hub.accounts import service as accounts
from hub.accounts.emails import normalise_email
from hub.oauth import providers
from hub.oauth.providers import Identity, ProviderError
from hub.platform import auth
from hub.platform.db import fetch, fetchrow, is_unique_violation, transaction
from hub.platform.errors import Problem, conflict, not_found, validation_error
from hub.platform.redis import get_redis
from hub.platform.settings import get_settings

log = structlog.get_logger(__name__)

NO_PASSWORD = "!"
_STATE_KEY = "hub:oauth:state:"


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _not_offered(provider: str) -> Problem:
    return Problem(
        404,
        "not-found",
        "Not found",
        f"Signing in with '{provider}' is not offered here.",
    )


def _flow_problem(detail: str) -> Problem:
    return Problem(
        400,
        "oauth-failed",
        "Sign-in did not complete",
        detail,
        invalid_params=[{"name": "state", "reason": detail}],
    )


def _require(provider: str) -> None:
    if provider not in providers.configured():
        raise _not_offered(provider)


async def start(provider: str, link_user_id: str | None) -> dict[str, Any]:
    _require(provider)
    settings = get_settings()
    state = secrets.token_urlsafe(24)
    flow_secret = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(24)
    try:
        url = await providers.authorization_url(
            provider, state=state, code_verifier=verifier, nonce=nonce
        )
    except ProviderError as exc:
        raise Problem(502, "provider-unavailable", "Provider unavailable", str(exc)) from None
    await get_redis().set(
        _STATE_KEY + state,
        json.dumps(
            {
                "provider": provider,
                "verifier": verifier,
                "nonce": nonce,
                "secret": _sha(flow_secret),
                "link_user_id": link_user_id,
            }
        ),
        ex=settings.oauth_state_ttl_seconds,
    )
    return {
        "provider": provider,
        "authorization_url": url,
        "state": state,
        "flow_secret": flow_secret,
        "expires_in": settings.oauth_state_ttl_seconds,
    }


async def _take_state(provider: str, state: str, flow_secret: str) -> dict[str, Any]:
    raw = await get_redis().getdel(_STATE_KEY + state)
    if raw is None:
        raise _flow_problem("This sign-in expired or was already used; start again.")
    data = json.loads(raw)
    if data["provider"] != provider or not secrets.compare_digest(
        data["secret"], _sha(flow_secret)
    ):
        raise _flow_problem("This sign-in was started elsewhere; start again from this page.")
    return data


async def callback(provider: str, code: str, state: str, flow_secret: str) -> dict[str, Any]:
    _require(provider)
    data = await _take_state(provider, state, flow_secret)
    try:
        identity = await providers.exchange(
            provider, code=code, code_verifier=data["verifier"], nonce=data["nonce"]
        )
    except ProviderError as exc:
        raise _flow_problem(str(exc)) from None
    log.info("oauth.identity", provider=provider, linking=bool(data.get("link_user_id")))
    if data.get("link_user_id"):
        return await _link_signed_in(identity, data["link_user_id"])
    return await _sign_in(identity)


async def _tokens(user_id: uuid.UUID) -> dict[str, Any]:
    row = await fetchrow(
        f"SELECT {accounts.USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL",
        user_id,
    )
    if row is None:
        raise _flow_problem("This account no longer exists.")
    access, refresh, ttl = await accounts._issue_pair(row)
    return {
        "user": accounts.user_out(row),
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": ttl,
        "token_type": "bearer",
    }


async def _sign_in(identity: Identity) -> dict[str, Any]:
    linked = await fetchrow(
        "UPDATE oauth_identities SET last_used_at = now(), email = coalesce($3, email) "
        "WHERE provider = $1 AND subject = $2 RETURNING user_id",
        identity.provider,
        identity.subject,
        identity.email,
    )
    if linked is not None:
        return {"status": "signed_in", "created": False, **await _tokens(linked["user_id"])}
    if not identity.email or not identity.email_verified:
        raise validation_error(
            "email",
            f"Your {providers.LABELS[identity.provider]} account has no verified email address; "
            "verify one there, or sign up with email and a password.",
        )
    email = normalise_email(identity.email)
    existing = await fetchrow(
        "SELECT id, handle FROM users WHERE email = $1 AND deleted_at IS NULL", email
    )
    if existing is not None:
        await _mail_link_confirmation(existing["id"], existing["handle"], identity, email)
        return {
            "status": "confirmation_sent",
            "email": email,
            "detail": f"An account already uses {email}. We mailed a link there: follow it to "
            f"add {providers.LABELS[identity.provider]} sign-in to that account, or sign in "
            "with your password and link it from your account page.",
        }
    user_id = await _create_account(identity, email)
    return {"status": "signed_in", "created": True, **await _tokens(user_id)}


async def _link_signed_in(identity: Identity, user_id: str) -> dict[str, Any]:
    uid = uuid.UUID(user_id)
    await _link(uid, identity)
    return {"status": "linked", "created": False, **await _tokens(uid)}


async def _link(user_id: uuid.UUID, identity: Identity) -> None:
    try:
        row = await fetchrow(
            "INSERT INTO oauth_identities (user_id, provider, subject, email) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (provider, subject) DO UPDATE "
            "SET last_used_at = now() RETURNING user_id",
            user_id,
            identity.provider,
            identity.subject,
            identity.email,
        )
    except asyncpg.exceptions.UniqueViolationError as exc:
        if is_unique_violation(exc, "oauth_identities_user_provider_key"):
            raise conflict(
                f"Your account is already linked to another {providers.LABELS[identity.provider]} "
                "account; unlink it first.",
                "identity-linked",
            ) from exc
        raise
    assert row is not None
    if row["user_id"] != user_id:
        raise conflict(
            f"This {providers.LABELS[identity.provider]} account signs in to another account "
            "here; unlink it there first.",
            "identity-linked",
        )
    log.info("oauth.linked", user_id=str(user_id), provider=identity.provider)


_HANDLE_CHARS = re.compile(r"[^A-Za-z0-9_]+")


def _handle_base(identity: Identity) -> str:
    base = _HANDLE_CHARS.sub("_", identity.login).strip("_")[:24] or "user"
    if len(base) < 3:
        base = (base + "_user")[:24]
    if base.lower() in accounts.RESERVED_HANDLES:
        base = f"{base}_1"
    return base


async def _create_account(identity: Identity, email: str) -> uuid.UUID:
    base = _handle_base(identity)
    display = identity.name.strip()[:60] or base
    for attempt in range(8):
        handle = base if attempt == 0 else f"{base[:24]}_{secrets.randbelow(10**5)}"
        try:
            # An outbox transaction: notices the hooks write (the wallet's) go out after commit.
            async with outbox.transaction():
                row = await fetchrow(
                    "INSERT INTO users (email, handle, display_name, password_hash, "
                    "email_verified_at) VALUES ($1, $2, $3, $4, now()) RETURNING id, email",
                    email,
                    handle,
                    display,
                    NO_PASSWORD,
                )
                assert row is not None
                user_id = str(row["id"])
                await hooks.run(hooks.on_user_registered, user_id)
                await hooks.run_email(hooks.on_email_verified, user_id, row["email"])
                await fetch(
                    "INSERT INTO oauth_identities (user_id, provider, subject, email) "
                    "VALUES ($1, $2, $3, $4)",
                    row["id"],
                    identity.provider,
                    identity.subject,
                    identity.email,
                )
        except asyncpg.exceptions.UniqueViolationError as exc:
            if is_unique_violation(exc, "users_handle_lower_key"):
                continue
            if is_unique_violation(exc, "users_email_key") or is_unique_violation(
                exc, "oauth_identities_subject_key"
            ):
                # Another tab finished the same first sign-in a moment ago.
                raise conflict(
                    "This account was just created; sign in again.", "email-taken"
                ) from exc
            raise
        log.info("user.registered", user_id=user_id, via=identity.provider)
        return row["id"]
    raise conflict("Could not find a free handle; sign up with email instead.", "handle-taken")


# --- linking an existing account by mail ---------------------------------------------------


async def _mail_link_confirmation(
    user_id: uuid.UUID, handle: str, identity: Identity, email: str
) -> None:
    settings = get_settings()
    token = secrets.token_urlsafe(32)
    label = providers.LABELS[identity.provider]
    link = f"{settings.public_url.rstrip('/')}/#link-identity={token}"
    hours = max(1, settings.oauth_link_ttl_seconds // 3600)
    async with transaction():
        await fetch(
            "INSERT INTO oauth_pending_links (token_hash, user_id, provider, subject, email, "
            "expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            _sha(token),
            user_id,
            identity.provider,
            identity.subject,
            email,
            datetime.now(UTC) + timedelta(seconds=settings.oauth_link_ttl_seconds),
        )
        mail_id = await mail.queue(
            to=email,
            subject=f"Link your {label} sign-in to BetterPrompt Hub",
            text=(
                f"Hi {handle},\n\n"
                f"Someone (hopefully you) signed in to BetterPrompt Hub with {label}, using this "
                "address. To let that sign-in open your existing account, open this link:\n\n"
                f"{link}\n\n"
                f"The link works once, within {hours} hour{'s' if hours != 1 else ''}. If it was "
                "not you, ignore this message: nothing changes without the link.\n"
            ),
            kind="oauth_link",
            user_id=str(user_id),
        )
    mail.deliver_soon([mail_id])


async def confirm_link(token: str) -> dict[str, Any]:
    """Follow the mailed link: the identity joins the account, which is signed in."""
    async with transaction():
        row = await fetchrow(
            "UPDATE oauth_pending_links SET used_at = now() WHERE token_hash = $1 "
            "AND used_at IS NULL AND expires_at > now() "
            "RETURNING user_id, provider, subject, email",
            _sha(token),
        )
        if row is None:
            raise Problem(
                400,
                "invalid-token",
                "Invalid or expired link",
                "This link is invalid, expired or already used; sign in with the provider again.",
                invalid_params=[{"name": "token", "reason": "invalid, expired or used"}],
            )
        owner = await fetchrow(
            "SELECT id FROM users WHERE id = $1 AND email = $2 AND deleted_at IS NULL",
            row["user_id"],
            row["email"],
        )
        if owner is None:
            raise Problem(
                400,
                "invalid-token",
                "Invalid or expired link",
                "This account's address changed since the link was sent; sign in again.",
            )
        identity = Identity(
            provider=row["provider"],
            subject=row["subject"],
            email=row["email"],
            email_verified=True,
            name="",
            login="",
        )
        await _link(row["user_id"], identity)
    return {"status": "linked", "created": False, **await _tokens(row["user_id"])}


# --- the account's identities ----------------------------------------------------------


async def list_identities(user_id: str) -> list[dict[str, Any]]:
    rows = await fetch(
        "SELECT provider, email, created_at, last_used_at FROM oauth_identities "
        "WHERE user_id = $1 ORDER BY created_at",
        uuid.UUID(user_id),
    )
    return [dict(r, label=providers.LABELS.get(r["provider"], r["provider"])) for r in rows]


async def unlink(user_id: str, provider: str) -> None:
    """Refused when it is the only way into the account (no password, no other identity)."""
    uid = uuid.UUID(user_id)
    async with transaction():
        user = await fetchrow(
            "SELECT password_hash FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE", uid
        )
        if user is None:
            raise not_found("This account")
        others = await fetchrow(
            "SELECT count(*) FILTER (WHERE provider <> $2) AS others, "
            "count(*) FILTER (WHERE provider = $2) AS this FROM oauth_identities "
            "WHERE user_id = $1",
            uid,
            provider,
        )
        assert others is not None
        if not others["this"]:
            raise not_found(f"A linked {providers.LABELS.get(provider, provider)} sign-in")
        if user["password_hash"] == NO_PASSWORD and not others["others"]:
            raise conflict(
                "This is the only way into your account: set a password first (Forgot your "
                "password? mails you a link), then unlink.",
                "last-sign-in-method",
            )
        await fetch(
            "DELETE FROM oauth_identities WHERE user_id = $1 AND provider = $2", uid, provider
        )


async def export_user(user_id: str) -> list[dict[str, Any]]:
    return [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}
        for r in await list_identities(user_id)
    ]


async def erase_user(user_id: str) -> None:
    uid = uuid.UUID(user_id)
    await fetch("DELETE FROM oauth_identities WHERE user_id = $1", uid)
    await fetch("DELETE FROM oauth_pending_links WHERE user_id = $1", uid)


_ = auth  # the access tokens come from hub.accounts' own issuer
