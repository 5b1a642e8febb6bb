"""A small identity provider at the HTTP boundary, for the sign-in tests: Google-style OpenID
Connect (discovery, authorize, token, userinfo, JWKS) and GitHub-style OAuth2 (authorize,
token, /user, /user/emails), in one ASGI app served by uvicorn on loopback.

It behaves as the real ones do where it matters to us: a code is single use and bound to its
client, redirect URI and PKCE challenge (S256); the ID token is RS256-signed with a key from
the JWKS and carries the nonce it was asked for. The test chooses who "signs in" (`user`) and
can make the provider misbehave: `audience` (an ID token for another client), `nonce` (a
different nonce), `other_key` (signed by a key not in the JWKS).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.fake_http import read_request, send_json

GOOGLE_CLIENT = ("google-client-id", "google-client-secret")
GITHUB_CLIENT = ("github-client-id", "github-client-secret")


class FakeProvider:
    def __init__(self) -> None:
        self.base = ""  # set once served
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.foreign_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.user: dict[str, Any] = {}
        self.audience: str | None = None
        self.nonce: str | None = None
        self.other_key = False
        self.token_calls = 0

    def sign_in_as(self, **user: Any) -> None:
        """Who the next authorization is for: sub/id, email, email_verified, name, login."""
        self.user = dict(user)
        self.audience = self.nonce = None
        self.other_key = False

    # --- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers, body = await read_request(scope, receive)
        query = dict(parse_qsl(scope["query_string"].decode()))
        form = dict(parse_qsl(body.decode()))
        status, payload, extra = self.route(scope["method"], scope["path"], query, form, headers)
        await send_json(send, status, payload, extra)

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        form: dict[str, str],
        headers: dict[str, str],
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        if path == "/.well-known/openid-configuration":
            return 200, self.discovery(), []
        if path == "/jwks":
            return 200, {"keys": [self.key.as_dict(private=False)]}, []
        if path in ("/authorize", "/login/oauth/authorize") and method == "GET":
            return self.authorize(query, github=path.startswith("/login"))
        if path in ("/token", "/login/oauth/access_token") and method == "POST":
            return self.token(form, headers)
        token = headers.get("authorization", "").removeprefix("Bearer ").removeprefix("token ")
        grant = self.tokens.get(token)
        if grant is None:
            return 401, {"message": "Bad credentials"}, []
        user = grant["user"]
        if path == "/userinfo":
            return (
                200,
                {k: user[k] for k in ("sub", "email", "email_verified", "name") if k in user},
                [],
            )
        if path == "/api/user":
            return 200, {"id": user["id"], "login": user["login"], "name": user.get("name")}, []
        if path == "/api/user/emails":
            return 200, user.get("emails", []), []
        return 404, {"error": "not_found"}, []

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.base,
            "authorization_endpoint": f"{self.base}/authorize",
            "token_endpoint": f"{self.base}/token",
            "userinfo_endpoint": f"{self.base}/userinfo",
            "jwks_uri": f"{self.base}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def authorize(
        self, q: dict[str, str], *, github: bool
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        client = GITHUB_CLIENT if github else GOOGLE_CLIENT
        if q.get("client_id") != client[0] or q.get("response_type") != "code":
            return 400, {"error": "invalid_request"}, []
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return 400, {"error": "invalid_request", "error_description": "PKCE required"}, []
        if not github and not q.get("nonce"):
            return 400, {"error": "invalid_request", "error_description": "nonce required"}, []
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "client_id": client[0],
            "redirect_uri": q["redirect_uri"],
            "challenge": q["code_challenge"],
            "nonce": q.get("nonce"),
            "user": dict(self.user),
            "used": False,
        }
        location = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q.get("state", "")})
        return 302, None, [(b"location", location.encode())]

    def token(
        self, form: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        self.token_calls += 1
        grant = self.codes.get(form.get("code", ""))
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if "authorization" in headers and headers["authorization"].startswith("Basic "):
            client_id, _, secret = (
                base64.b64decode(headers["authorization"][6:]).decode().partition(":")
            )
        bad = {"error": "invalid_grant", "error_description": "The code is invalid or used."}
        if grant is None or grant["used"]:
            return 400, bad, []
        grant["used"] = True  # single use, even when this request fails below
        client = GITHUB_CLIENT if grant["client_id"] == GITHUB_CLIENT[0] else GOOGLE_CLIENT
        if (client_id, secret) != client:
            return 401, {"error": "invalid_client"}, []
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, bad, []
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE mismatch"}, []
        access = secrets.token_urlsafe(16)
        self.tokens[access] = grant
        body: dict[str, Any] = {"access_token": access, "token_type": "bearer", "expires_in": 3600}
        if client is GOOGLE_CLIENT:
            body["id_token"] = self.id_token(grant)
            body["scope"] = "openid email profile"
        else:
            body["scope"] = "read:user,user:email"
        return 200, body, []

    def id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        user = grant["user"]
        claims = {
            "iss": self.base,
            "sub": user["sub"],
            "aud": self.audience or grant["client_id"],
            "iat": now,
            "exp": now + 600,
            "nonce": self.nonce or grant["nonce"],
            "email": user.get("email"),
            "email_verified": user.get("email_verified", True),
            "name": user.get("name", ""),
        }
        key = self.foreign_key if self.other_key else self.key
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
