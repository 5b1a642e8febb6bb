"""Access tokens (JWT via Litestar's JWTAuth), revocation in Redis, and the current user.

Access tokens are short-lived JWTs carrying the user id, roles and refresh-family id. A token
is rejected when any of these is in Redis:
- its own `jti` (revoked at logout),
- its refresh family (revoked at logout or on refresh-token reuse),
- a per-user "revoked before" timestamp later than its `iat` (logout everywhere, bans, erasure).
All three are checked with one MGET.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.security.jwt import JWTAuth, Token

from hub.redis import get_redis
from hub.settings import Settings, get_settings

ALGORITHM = "HS256"
ISSUER = "betterprompt-hub"


class CurrentUser(msgspec.Struct, frozen=True):
    id: str
    roles: tuple[str, ...] = ()
    jti: str = ""
    family: str = ""
    expires_at: int = 0

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_moderator(self) -> bool:
        return "moderator" in self.roles or "admin" in self.roles


def _jti_key(jti: str) -> str:
    return f"hub:auth:revoked:jti:{jti}"


def _family_key(family: str) -> str:
    return f"hub:auth:revoked:fam:{family}"


def _user_key(user_id: str) -> str:
    return f"hub:auth:revoked_before:{user_id}"


def issue_access_token(
    user_id: str, roles: list[str] | tuple[str, ...], family: str, settings: Settings | None = None
) -> tuple[str, int]:
    """Return (encoded JWT, lifetime in seconds)."""
    settings = settings or get_settings()
    now = datetime.now(UTC)
    token = Token(
        sub=user_id,
        exp=now + timedelta(seconds=settings.access_ttl_seconds),
        iat=now,
        iss=ISSUER,
        jti=uuid.uuid4().hex,
        # `ist`: issue time with sub-second precision, compared with "revoked before" timestamps
        # (the standard `iat` claim has whole seconds only).
        extras={"roles": list(roles), "fam": family, "typ": "access", "ist": now.timestamp()},
    )
    return token.encode(
        secret=settings.jwt_secret, algorithm=ALGORITHM
    ), settings.access_ttl_seconds


class TokenRejected(Exception):
    """The token is malformed, forged, expired or revoked; `expired` tells which case."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


def decode_access_token(encoded: str, settings: Settings | None = None) -> Token:
    settings = settings or get_settings()
    try:
        token = Token.decode(
            encoded,
            secret=settings.jwt_secret,
            algorithm=ALGORITHM,
            issuer=[ISSUER],
            verify_exp=False,
        )
    except NotAuthorizedException as exc:
        raise TokenRejected(str(exc.detail)) from exc
    if token.extras.get("typ") != "access":
        raise TokenRejected("not an access token")
    if token.exp <= datetime.now(UTC):
        raise TokenRejected("token expired", expired=True)
    return token


async def check_not_revoked(token: Token) -> None:
    family = str(token.extras.get("fam") or "")
    keys = [_jti_key(token.jti or ""), _family_key(family or "-"), _user_key(token.sub)]
    jti_hit, fam_hit, revoked_before = await get_redis().mget(keys)
    if jti_hit or fam_hit:
        raise TokenRejected("token has been revoked")
    issued = float(token.extras.get("ist") or token.iat.timestamp())
    if revoked_before is not None and issued <= float(revoked_before):
        raise TokenRejected("token has been revoked")


def user_from_token(token: Token) -> CurrentUser:
    return CurrentUser(
        id=token.sub,
        roles=tuple(token.extras.get("roles") or ()),
        jti=token.jti or "",
        family=str(token.extras.get("fam") or ""),
        expires_at=int(token.exp.timestamp()),
    )


async def verify_access_token(encoded: str) -> CurrentUser:
    """Decode, verify and check revocation; raises TokenRejected."""
    token = decode_access_token(encoded)
    await check_not_revoked(token)
    return user_from_token(token)


async def revoke_access(user: CurrentUser) -> None:
    ttl = max(1, user.expires_at - int(time.time()) + 5)
    await get_redis().set(_jti_key(user.jti), b"1", ex=ttl)


async def revoke_families(families: list[str]) -> None:
    if not families:
        return
    ttl = get_settings().access_ttl_seconds + 60
    pipe = get_redis().pipeline(transaction=False)
    for family in families:
        pipe.set(_family_key(family), b"1", ex=ttl)
    await pipe.execute()


async def revoke_user_tokens_before_now(user_id: str) -> None:
    """Every access token of this user issued until now stops working (logout everywhere, ban)."""
    ttl = get_settings().access_ttl_seconds + 60
    await get_redis().set(_user_key(user_id), str(time.time()).encode(), ex=ttl)


async def _retrieve_user(
    token: Token, connection: ASGIConnection[Any, Any, Any, Any]
) -> CurrentUser | None:
    if token.extras.get("typ") != "access":
        return None
    try:
        await check_not_revoked(token)
    except TokenRejected:
        return None
    return user_from_token(token)


def build_jwt_auth(settings: Settings) -> JWTAuth[CurrentUser, Token]:
    return JWTAuth[CurrentUser, Token](
        retrieve_user_handler=_retrieve_user,
        token_secret=settings.jwt_secret,
        algorithm=ALGORITHM,
        accepted_issuers=[ISSUER],
        default_token_expiration=timedelta(seconds=settings.access_ttl_seconds),
        exclude=[
            "^/schema",
            "^/healthz",
            "^/readyz",
            "^/metrics",
            "^/connection/",
            "^/static/",
            "^/vendor/",
            "^/$",
        ],
        exclude_opt_key="exclude_from_auth",
        description="Access token from POST /api/v1/auth/login or /auth/register (15 minutes).",
    )


async def optional_user(request: Any) -> CurrentUser | None:
    """The signed-in user on routes that also serve anonymous visitors, or None.

    A present but invalid token is an error (401), not silently anonymous, so a client with
    an expired token learns it must refresh.
    """
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value:
        from hub.errors import unauthorized

        raise unauthorized("Authorization header must be 'Bearer <access token>'.")
    try:
        return await verify_access_token(value.strip())
    except TokenRejected as exc:
        from hub.errors import unauthorized

        raise unauthorized(
            "Your access token has expired; refresh it."
            if exc.expired
            else "Invalid or revoked access token."
        ) from exc
