"""The two identity providers, at their HTTP boundary (Authlib's OAuth2 client on httpx).

Both use the authorization-code flow with PKCE (S256). Google is OpenID Connect: its
endpoints come from the issuer's discovery document, and the identity is the ID token,
verified here (signature against the issuer's JWKS, `iss`, `aud` = our client id, `exp`, and
the `nonce` we sent). GitHub is plain OAuth2: the identity comes from its API (`/user`, and
`/user/emails` for a verified primary address).

What the rest of the hub gets is an `Identity`; nothing here touches the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from hub.oauth.schemas import Provider
from hub.platform.settings import Settings, get_settings

log = structlog.get_logger(__name__)

LABELS: dict[str, str] = {"github": "GitHub", "google": "Google"}
_HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
_DISCOVERY_TTL = 3600.0


class ProviderError(Exception):
    """The provider refused or sent something we cannot trust; the message is for the user."""


@dataclass(frozen=True, slots=True)
class Identity:
    provider: str
    subject: str  # the provider's stable user id (never the email)
    email: str | None
    email_verified: bool
    name: str
    login: str  # a handle suggestion


def configured(settings: Settings | None = None) -> list[Provider]:
    """Providers with a client id and secret, in a stable order."""
    s = settings or get_settings()
    out: list[Provider] = []
    if s.oauth_github_client_id and s.oauth_github_client_secret:
        out.append("github")
    if s.oauth_google_client_id and s.oauth_google_client_secret:
        out.append("google")
    return out


def redirect_uri(provider: str, settings: Settings | None = None) -> str:
    s = settings or get_settings()
    return f"{s.public_url.rstrip('/')}/auth/callback/{provider}"


def _client(provider: str, settings: Settings) -> AsyncOAuth2Client:
    if provider == "github":
        cid, secret, scope = (
            settings.oauth_github_client_id,
            settings.oauth_github_client_secret,
            "read:user user:email",
        )
    else:
        cid, secret, scope = (
            settings.oauth_google_client_id,
            settings.oauth_google_client_secret,
            "openid email profile",
        )
    return AsyncOAuth2Client(
        client_id=cid,
        client_secret=secret,
        scope=scope,
        redirect_uri=redirect_uri(provider, settings),
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",
        timeout=_HTTP_TIMEOUT,
    )


# --- OpenID Connect discovery and keys (cached per issuer) -----------------------------------

_discovery: dict[str, tuple[float, dict[str, Any]]] = {}
_jwks: dict[str, tuple[float, KeySet]] = {}


async def _get_json(url: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT) as http:
        r = await http.get(url, **kwargs)
    if r.status_code != 200:
        raise ProviderError("The sign-in provider did not answer as expected; try again later.")
    return r.json()


async def discovery(issuer: str) -> dict[str, Any]:
    cached = _discovery.get(issuer)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    doc = await _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    if doc.get("issuer") != issuer:
        raise ProviderError("The sign-in provider's configuration names another issuer.")
    _discovery[issuer] = (time.monotonic() + _DISCOVERY_TTL, doc)
    return doc


async def _keys(jwks_uri: str, *, refresh: bool = False) -> KeySet:
    cached = _jwks.get(jwks_uri)
    if cached and cached[0] > time.monotonic() and not refresh:
        return cached[1]
    keys = KeySet.import_key_set(await _get_json(jwks_uri))
    _jwks[jwks_uri] = (time.monotonic() + _DISCOVERY_TTL, keys)
    return keys


async def _verify_id_token(
    id_token: str, *, issuer: str, client_id: str, nonce: str, jwks_uri: str
) -> dict[str, Any]:
    """The ID token's claims, or ProviderError. A key id we do not know refetches the JWKS
    once (providers rotate keys)."""
    for refresh in (False, True):
        keys = await _keys(jwks_uri, refresh=refresh)
        try:
            token = jwt.decode(id_token, keys, algorithms=["RS256", "ES256"])
            break
        except (JoseError, ValueError) as exc:
            if refresh:
                log.info("oauth.id_token_rejected", reason=type(exc).__name__)
                raise ProviderError(
                    "The sign-in provider's answer could not be verified."
                ) from None
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        leeway=60,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        log.info("oauth.id_token_rejected", reason=type(exc).__name__, claim=str(exc)[:80])
        raise ProviderError(
            "The sign-in provider's answer was not meant for this site or has expired."
        ) from None
    azp = claims.get("azp")
    if isinstance(claims.get("aud"), list) and azp not in (None, client_id):
        raise ProviderError("The sign-in provider's answer was not meant for this site.")
    return claims


# --- the flow ------------------------------------------------------------------------------


async def authorization_url(provider: str, *, state: str, code_verifier: str, nonce: str) -> str:
    settings = get_settings()
    client = _client(provider, settings)
    try:
        if provider == "github":
            endpoint = settings.oauth_github_authorize_url
            url, _ = client.create_authorization_url(
                endpoint, state=state, code_verifier=code_verifier, allow_signup="true"
            )
        else:
            doc = await discovery(settings.oauth_google_issuer)
            url, _ = client.create_authorization_url(
                doc["authorization_endpoint"],
                state=state,
                code_verifier=code_verifier,
                nonce=nonce,
                prompt="select_account",
            )
    finally:
        await client.aclose()
    return str(url)


async def exchange(provider: str, *, code: str, code_verifier: str, nonce: str) -> Identity:
    """Trade the code for tokens (with the PKCE verifier) and read who signed in."""
    settings = get_settings()
    client = _client(provider, settings)
    try:
        if provider == "github":
            token = await _fetch_token(client, settings.oauth_github_token_url, code, code_verifier)
            return await _github_identity(client, settings)
        doc = await discovery(settings.oauth_google_issuer)
        token = await _fetch_token(client, doc["token_endpoint"], code, code_verifier)
        id_token = token.get("id_token")
        if not id_token:
            raise ProviderError("The sign-in provider sent no identity; try again.")
        claims = await _verify_id_token(
            id_token,
            issuer=settings.oauth_google_issuer,
            client_id=settings.oauth_google_client_id,
            nonce=nonce,
            jwks_uri=doc["jwks_uri"],
        )
        email = claims.get("email")
        verified = claims.get("email_verified") in (True, "true")
        name = str(claims.get("name") or "")
        return Identity(
            provider="google",
            subject=str(claims["sub"]),
            email=str(email) if email else None,
            email_verified=bool(email) and verified,
            name=name,
            login=(str(email).split("@", 1)[0] if email else name) or "user",
        )
    finally:
        await client.aclose()


async def _fetch_token(
    client: AsyncOAuth2Client, url: str, code: str, code_verifier: str
) -> dict[str, Any]:
    try:
        token = await client.fetch_token(
            url,
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
            headers={"Accept": "application/json"},
        )
    except OAuthError as exc:
        log.info("oauth.code_refused", error=exc.error)
        raise ProviderError(
            "The sign-in provider refused this sign-in (the link may have been used already or "
            "expired); start again."
        ) from None
    except (httpx.HTTPError, ValueError):
        log.warning("oauth.token_endpoint_failed", exc_info=True)
        raise ProviderError("The sign-in provider did not answer; try again later.") from None
    return dict(token)


async def _github_identity(client: AsyncOAuth2Client, settings: Settings) -> Identity:
    api = settings.oauth_github_api_url.rstrip("/")
    headers = {"Accept": "application/vnd.github+json"}
    try:
        user = (await client.get(f"{api}/user", headers=headers)).raise_for_status().json()
        emails = (await client.get(f"{api}/user/emails", headers=headers)).raise_for_status().json()
    except (httpx.HTTPError, ValueError):
        log.warning("oauth.github_api_failed", exc_info=True)
        raise ProviderError("GitHub did not tell us who you are; try again later.") from None
    primary = next(
        (e for e in emails if isinstance(e, dict) and e.get("primary") and e.get("verified")),
        None,
    ) or next((e for e in emails if isinstance(e, dict) and e.get("verified")), None)
    return Identity(
        provider="github",
        subject=str(user["id"]),
        email=str(primary["email"]) if primary else None,
        email_verified=primary is not None,
        name=str(user.get("name") or ""),
        login=str(user.get("login") or "user"),
    )
