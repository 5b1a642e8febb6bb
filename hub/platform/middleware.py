"""ASGI middleware: request ids and access logs, and security headers."""

from __future__ import annotations

import time
import uuid
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from hub.platform.settings import get_settings

log = structlog.get_logger("hub.access")


def content_security_policy(stripe_js_url: str = "", media_origins: str = "") -> str:
    """The pages' policy: only the hub's own scripts (no inline script), plus Stripe.js and its
    frames when payments are configured (card fields must come from Stripe itself), and images
    from the media store's origin when `/media/...` redirects to S3."""
    stripe = ""
    if stripe_js_url:
        parts = urlsplit(stripe_js_url)
        stripe = f" {parts.scheme}://{parts.netloc}"
    return (
        f"default-src 'self'; script-src 'self'{stripe}; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:{media_origins}; connect-src 'self' ws: wss:{stripe}; frame-src 'self'{stripe}; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; "
        "manifest-src 'self'"
    )


# The OpenAPI UI (swagger-ui-dist, served from /vendor) starts from one inline script that
# embeds the schema; nothing comes from elsewhere.
_CSP_DOCS = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'"
)


def request_context_middleware(app: ASGIApp) -> ASGIApp:
    """Bind a request id (incoming X-Request-ID or a new one) to logs and echo it back."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")[:64]
                break
        request_id = request_id or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            user: Any = scope.get("user")
            log.info(
                "http.request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                user_id=getattr(user, "id", None),
            )
            structlog.contextvars.clear_contextvars()

    return middleware


def _media_origins(settings: Any) -> str:
    """Origins `/media/...` may redirect images to (S3, path-style, or a public base URL)."""
    if not getattr(settings, "s3_bucket", ""):
        return ""
    urls = [settings.s3_public_url or settings.s3_endpoint_url]
    if not urls[0]:
        urls = [f"https://s3.{settings.s3_region}.amazonaws.com", "https://s3.amazonaws.com"]
    origins = []
    for url in urls:
        parts = urlsplit(url)
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return "".join(f" {o}" for o in origins)


@lru_cache(maxsize=8)
def _page_csp(stripe_js_url: str, media_origins: str) -> bytes:
    return content_security_policy(stripe_js_url, media_origins).encode()


def page_csp() -> bytes:
    """The pages' CSP for the current settings (Stripe.js allowed once payments are on)."""
    settings = get_settings()
    return _page_csp(
        settings.stripe_js_url if settings.stripe_publishable_key else "",
        _media_origins(settings),
    )


def security_headers_middleware_factory(settings: Any) -> Any:
    hsts = settings.hsts
    csp_docs = _CSP_DOCS.encode()

    def security_headers_middleware(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            docs = scope["path"].startswith("/schema")

            async def send_wrapper(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    headers += [
                        (b"x-content-type-options", b"nosniff"),
                        (b"x-frame-options", b"DENY"),
                        (b"referrer-policy", b"strict-origin-when-cross-origin"),
                        (b"content-security-policy", csp_docs if docs else page_csp()),
                    ]
                    if hsts:
                        headers.append(
                            (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
                        )
                    message["headers"] = headers
                await send(message)

            await app(scope, receive, send_wrapper)

        return middleware

    return security_headers_middleware
