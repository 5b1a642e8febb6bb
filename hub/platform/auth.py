"""Access tokens (JWT via Litestar's JWTAuth), revocation in Redis, and the current user.

Access tokens are short-lived JWTs carrying the user id, roles and refresh-family id. A token
is rejected when any of these is in Redis:
- its own `jti` (revoked at logout),
- its refresh family (revoked at logout or on refresh-token reuse),
- a per-user "revoked before" timestamp later than its `iat` (logout everywhere, bans, erasure).
All three are checked with one MGET.

Realtime connection tokens (`POST /realtime/token`) are JWTs of `typ` "realtime" with the same
revocation claims but no roles; REST accepts only `typ` "access", the websocket accepts both.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.security.jwt import JWTAuth, Token

from hub.community import activity
from hub.platform.redis import get_redis
from hub.platform.settings import Settings, get_settings

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


def issue_realtime_token(
    user_id: str,
    family: str,
    settings: Settings | None = None,
    *,
    ttl_seconds: int | None = None,
) -> tuple[str, int]:
    """A websocket connection token: (encoded JWT, lifetime in seconds).

    It carries no roles (the realtime authenticator reads them, with the handle, from the
    database at every connect and refresh) and its `typ` is "realtime", so REST refuses it
    with 401 and it cannot be traded for another token. `ttl_seconds` overrides
    `HUB_REALTIME_TOKEN_TTL_SECONDS` (tests mint already-expired tokens with a negative one).
    """
    settings = settings or get_settings()
    ttl = settings.realtime_token_ttl_seconds if ttl_seconds is None else ttl_seconds
    now = datetime.now(UTC)
    claims = {
        "sub": user_id,
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "iat": int(now.timestamp()),
        "iss": ISSUER,
        "jti": uuid.uuid4().hex,
        "fam": family,
        "typ": "realtime",
        "ist": now.timestamp(),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM), ttl


class TokenRejected(Exception):
    """The token is malformed, forged, expired or revoked; `expired` tells which case."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


class TokenClaims(msgspec.Struct, frozen=True):
    """The verified claims of one of our JWTs (signature and issuer checked)."""

    sub: str
    exp: int
    iat: float
    typ: str
    jti: str = ""
    fam: str = ""
    ist: float = 0.0
    roles: tuple[str, ...] = ()


def decode_token(
    encoded: str, types: tuple[str, ...] = ("access",), settings: Settings | None = None
) -> TokenClaims:
    """Verify signature, issuer and `typ`, then expiry, in that order.

    The expiry is checked here rather than by the JWT library so that a genuine token past its
    `exp` is told apart (`expired=True`: the client should refresh; realtime answers 109) from
    a forged or malformed one. Litestar's `Token.decode(verify_exp=False)` cannot do this: its
    dataclass still refuses a past `exp` as "Invalid token".
    """
    settings = settings or get_settings()
    try:
        payload = jwt.decode(
            encoded,
            settings.jwt_secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"verify_exp": False, "require": ["sub", "exp", "iat", "iss"]},
        )
        extras = payload.pop("extras", None)  # Litestar nests its custom claims here
        if isinstance(extras, dict):
            payload = {**extras, **payload}
        claims = msgspec.convert(payload, TokenClaims, strict=False)
    except (jwt.InvalidTokenError, msgspec.ValidationError) as exc:
        raise TokenRejected("invalid token") from exc
    if not claims.sub or claims.typ not in types:
        raise TokenRejected(f"not a {' or '.join(types)} token")
    if claims.exp <= time.time():
        raise TokenRejected("token expired", expired=True)
    return claims


async def check_claims_not_revoked(claims: TokenClaims) -> None:
    keys = [_jti_key(claims.jti), _family_key(claims.fam or "-"), _user_key(claims.sub)]
    jti_hit, fam_hit, revoked_before = await get_redis().mget(keys)
    if jti_hit or fam_hit:
        raise TokenRejected("token has been revoked")
    issued = claims.ist or claims.iat
    if revoked_before is not None and issued <= float(revoked_before):
        raise TokenRejected("token has been revoked")


def _token_jti(token: Token) -> str:
    """Litestar types `jti` as a string or a sequence of them; the hub issues only a string."""
    return token.jti if isinstance(token.jti, str) else ""


async def check_not_revoked(token: Token) -> None:
    await check_claims_not_revoked(
        TokenClaims(
            sub=token.sub,
            exp=int(token.exp.timestamp()),
            iat=token.iat.timestamp(),
            typ=str(token.extras.get("typ") or ""),
            jti=_token_jti(token),
            fam=str(token.extras.get("fam") or ""),
            ist=float(token.extras.get("ist") or 0.0),
        )
    )


def user_from_token(token: Token) -> CurrentUser:
    return CurrentUser(
        id=token.sub,
        roles=tuple(token.extras.get("roles") or ()),
        jti=_token_jti(token),
        family=str(token.extras.get("fam") or ""),
        expires_at=int(token.exp.timestamp()),
    )


def user_from_claims(claims: TokenClaims) -> CurrentUser:
    return CurrentUser(
        id=claims.sub, roles=claims.roles, jti=claims.jti, family=claims.fam, expires_at=claims.exp
    )


async def verify_access_token(encoded: str) -> CurrentUser:
    """Decode, verify and check revocation of a REST access token; raises TokenRejected."""
    claims = decode_token(encoded)
    await check_claims_not_revoked(claims)
    await activity.touch(claims.sub)
    return user_from_claims(claims)


async def verify_connection_token(encoded: str) -> CurrentUser:
    """A websocket connect/refresh token: a realtime token or an access token (the web client
    connects with its access token). Roles in the result are the token's and must not be
    trusted for realtime permissions: the authenticator reads them from the database."""
    claims = decode_token(encoded, ("realtime", "access"))
    await check_claims_not_revoked(claims)
    await activity.touch(claims.sub)
    return user_from_claims(claims)


def _revocation_ttl() -> int:
    """Revocation marks must outlive every token they revoke, of either kind."""
    settings = get_settings()
    return max(settings.access_ttl_seconds, settings.realtime_token_ttl_seconds) + 60


async def revoke_access(user: CurrentUser) -> None:
    ttl = max(1, user.expires_at - int(time.time()) + 5)
    await get_redis().set(_jti_key(user.jti), b"1", ex=ttl)


async def revoke_families(families: list[str]) -> None:
    if not families:
        return
    ttl = _revocation_ttl()
    pipe = get_redis().pipeline(transaction=False)
    for family in families:
        pipe.set(_family_key(family), b"1", ex=ttl)
    await pipe.execute()


async def revoke_user_tokens_before_now(user_id: str) -> None:
    """Every access token of this user issued until now stops working (logout everywhere, ban)."""
    ttl = _revocation_ttl()
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
    await activity.touch(token.sub)
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
            "^/emulation$",
            "^/static/",
            "^/vendor/",
            "^/$",
        ],
        exclude_opt_key="exclude_from_auth",
        description="Access token from POST /api/v1/auth/login or /auth/register (15 minutes).",
    )


async def optional_user(request: Request[Any, Any, Any]) -> CurrentUser | None:
    """The signed-in user on routes that also serve anonymous visitors, or None.

    Route handlers ask for it as the `viewer` dependency (hub/wiring.py) rather than calling it;
    the JWT middleware does not run on those routes (`exclude_from_auth`), so this reads the
    header itself.
    A present but invalid token is an error (401), not silently anonymous, so a client with
    an expired token learns it must refresh.
    """
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value:
        from hub.platform.errors import unauthorized

        raise unauthorized("Authorization header must be 'Bearer <access token>'.")
    try:
        return await verify_access_token(value.strip())
    except TokenRejected as exc:
        from hub.platform.errors import unauthorized

        raise unauthorized(
            "Your access token has expired; refresh it."
            if exc.expired
            else "Invalid or revoked access token."
        ) from exc


# A handler parameter `viewer: Viewer` receives optional_user's answer (hub/wiring.py provides
# it under that name).
Viewer = NamedDependency[CurrentUser | None]
