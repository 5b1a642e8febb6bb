"""create_app(): the platform around the domains (middleware, lifespan, errors, OpenAPI, assets).

The domains themselves (routes, dependencies, hooks) are plugged in by `hub.wiring.HubWiring`.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from litestar import Litestar, Request, Response, get
from litestar.config.cors import CORSConfig
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.response import File
from litestar.static_files import create_static_files_router

from hub.live import setup as realtime_setup
from hub.media.storage import close_stores
from hub.platform import outages
from hub.platform import redis as hub_redis
from hub.platform.auth import build_jwt_auth
from hub.platform.client_ip import trusted_proxies_middleware_factory
from hub.platform.db import UnstorableText, close_pool, start_pool
from hub.platform.errors import bad_request
from hub.platform.logging import configure_logging
from hub.platform.middleware import request_context_middleware, security_headers_middleware_factory
from hub.platform.rate_limit import FailOpenRedisStore
from hub.platform.settings import Settings, get_settings
from hub.platform.strict_json import check_json_body
from hub.web.render import template_config
from hub.wiring import HubWiring

log = structlog.get_logger(__name__)
ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "static"
NODE_MODULES = ROOT / "node_modules"


def _unstorable_text_handler(request: Request[Any, Any, Any], exc: UnstorableText) -> Response[Any]:
    return bad_request(str(exc)).to_response(request)


def _internal_error_handler(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    dependency = outages.outage_of(exc)
    if dependency is not None:
        # An outage, not a bug: 503 + Retry-After, and nothing about our internals.
        log.warning(
            "http.dependency_unavailable",
            path=request.url.path,
            dependency=dependency,
            error=type(exc).__name__,
        )
        return outages.service_unavailable().to_response(request)
    log.exception("http.unhandled_error", path=request.url.path)
    return Response(
        {
            "type": "https://betterprompt.dev/problems/internal",
            "title": "Internal server error",
            "status": 500,
            "detail": "Something went wrong on our side. It has been logged; please retry.",
        },
        status_code=500,
        media_type="application/problem+json",
    )


@get("/manifest.webmanifest", include_in_schema=False, exclude_from_auth=True)
async def manifest() -> File:
    return File(
        STATIC / "web" / "manifest.webmanifest",
        content_disposition_type="inline",
        media_type="application/manifest+json",
    )


@get("/favicon.ico", include_in_schema=False, exclude_from_auth=True)
async def favicon() -> File:
    return File(
        STATIC / "web" / "favicon.svg",
        content_disposition_type="inline",
        media_type="image/svg+xml",
    )


def _vendor_routers() -> list[Any]:
    """Browser libraries from npm packages (`npm ci` in make install), served by the hub."""
    packages = {
        "centrifuge": NODE_MODULES / "centrifuge" / "dist",
        "htmx": NODE_MODULES / "htmx.org" / "dist",
        "swagger-ui": NODE_MODULES / "swagger-ui-dist",
    }
    return [
        create_static_files_router(
            path=f"/vendor/{name}",
            directories=[directory],
            opt={"exclude_from_auth": True},
            include_in_schema=False,
            name=f"vendor-{name}",
        )
        for name, directory in packages.items()
    ]


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    jwt_auth = build_jwt_auth(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        hub_redis.connect(settings.queue_redis)
        await start_pool(min_size=2, max_size=20)
        await realtime_setup.start(app, rt_engine)
        from hub.runs import metrics as run_metrics

        metrics_task = asyncio.create_task(run_metrics.run_forever())
        # Long-lived objects out of the collector's way and fewer gen0 passes: full collections
        # over thousands of connections otherwise set the realtime fan-out p99.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        log.info("hub.started", settings=settings.redacted())
        try:
            yield
        finally:
            metrics_task.cancel()
            await realtime_setup.stop(app, rt_engine)
            await close_stores()
            await close_pool()
            await hub_redis.close()
            log.info("hub.stopped")

    rt_engine = realtime_setup.build(settings)

    rate_limit = RateLimitConfig(
        rate_limit=("minute", settings.rate_limit_per_minute),
        exclude=[
            "^/healthz",
            "^/readyz",
            "^/metrics",
            "^/connection/",
            "^/emulation$",
            "^/static/",
            "^/media/",
            "^/vendor/",
            "^/schema",
        ],
        store="rate_limit",
    )
    prometheus = PrometheusConfig(
        app_name="hub", prefix="hub_http", group_path=True, exclude=["^/metrics"]
    )
    static = create_static_files_router(
        path="/static",
        directories=[STATIC],
        opt={"exclude_from_auth": True},
        include_in_schema=False,
    )
    app = Litestar(
        # The domains' routes, dependencies and hooks come from HubWiring (hub/wiring.py);
        # these are the platform's own.
        route_handlers=[
            PrometheusController,
            manifest,
            favicon,
            static,
            *_vendor_routers(),
            *realtime_setup.route_handlers(rt_engine),
        ],
        lifespan=[lifespan],
        before_request=check_json_body,
        on_app_init=[jwt_auth.on_app_init],
        middleware=[
            trusted_proxies_middleware_factory(settings.trusted_proxies),
            request_context_middleware,
            security_headers_middleware_factory(settings),
            prometheus.middleware,
            rate_limit.middleware,
        ],
        plugins=[
            HubWiring(),
            ProblemDetailsPlugin(ProblemDetailsConfig(enable_for_all_http_exceptions=True)),
        ],
        exception_handlers={
            UnstorableText: _unstorable_text_handler,
            Exception: _internal_error_handler,
        },
        cors_config=CORSConfig(
            allow_origins=list(settings.cors_origins),
            allow_credentials=False,
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
        )
        if settings.cors_origins
        else None,
        stores={"rate_limit": FailOpenRedisStore(namespace="hub:ratelimit")},
        openapi_config=OpenAPIConfig(
            title="BetterPrompt Hub API",
            version="1.0.0",
            description="REST API of the BetterPrompt real-time community hub. Realtime: "
            "GET /connection/websocket speaks the Centrifuge client protocol v2.",
            path="/schema",
            # The docs UI comes from the swagger-ui-dist npm package, served by the hub, so
            # /schema works offline and under the hub's own CSP.
            render_plugins=[
                SwaggerRenderPlugin(
                    path="/",
                    js_url="/vendor/swagger-ui/swagger-ui-bundle.js",
                    css_url="/vendor/swagger-ui/swagger-ui.css",
                    standalone_preset_js_url="/vendor/swagger-ui/swagger-ui-standalone-preset.js",
                    favicon='<link rel="icon" href="/static/web/favicon.svg" type="image/svg+xml">',
                )
            ],
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
        ),
        template_config=template_config(),
        request_max_body_size=1024 * 1024,
        debug=False,
    )
    app.state.realtime = rt_engine
    return app
