"""Operations endpoints, headers, schema, and the foundation's worker job."""

from __future__ import annotations

import httpx


async def test_healthz_readyz_metrics(hub_server):
    async with httpx.AsyncClient(base_url=hub_server) as c:
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        ready = await c.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok", "worker": "ok"}
        metrics = await c.get("/metrics")
        assert metrics.status_code == 200 and "hub_http_requests_total" in metrics.text


async def test_readyz_names_what_is_down(hub_server):
    from hub.platform.redis import get_redis
    from hub.platform.settings import get_settings

    key = get_settings().worker_heartbeat_key
    redis = get_redis()
    saved = await redis.get(key)
    try:
        async with httpx.AsyncClient(base_url=hub_server) as c:
            # The session's worker beats every 10 s: if a beat lands between the delete and
            # the request, the worker is simply alive again; delete and ask once more.
            for _ in range(5):
                await redis.delete(key)
                r = await c.get("/readyz")
                if r.status_code == 503:
                    break
        assert r.status_code == 503
        assert r.json()["down"] == ["worker"]
    finally:
        if saved:
            await redis.set(key, saved, ex=30)


async def test_security_headers_and_request_id(hub_server):
    async with httpx.AsyncClient(base_url=hub_server) as c:
        r = await c.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


async def test_unknown_route_is_problem_json(client):
    r = await client.get("/does-not-exist")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_openapi_documents_every_route(hub_server):
    async with httpx.AsyncClient(base_url=hub_server) as c:
        r = await c.get("/schema/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    paths = spec["paths"]
    for path in (
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/realtime/token",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    register = paths["/api/v1/auth/register"]["post"]
    assert "requestBody" in register and "201" in register["responses"]
    assert "RegisterRequest" in str(spec["components"]["schemas"].keys())


async def test_prune_refresh_tokens_job(client, register, worker):
    from hub.platform.db import fetch
    from workers.jobs import prune_refresh_tokens

    acct = await register()
    keeper = await register()
    await fetch(
        "UPDATE refresh_tokens SET expires_at = now() - interval '3 days' WHERE \"user\" = $1::uuid",
        acct.id,
    )
    removed = await prune_refresh_tokens(worker.ctx)
    assert removed >= 1
    left = await fetch('SELECT count(*) AS n FROM refresh_tokens WHERE "user" = $1::uuid', acct.id)
    assert left[0]["n"] == 0
    # Idempotent: a second run finds nothing more to delete.
    assert await prune_refresh_tokens(worker.ctx) == 0
    r = await client.post("/auth/refresh", json={"refresh_token": acct["refresh_token"]})
    assert r.status_code == 401
    # A valid session is untouched.
    r = await client.post("/auth/refresh", json={"refresh_token": keeper["refresh_token"]})
    assert r.status_code == 200, r.text


async def test_every_http_route_is_in_the_openapi_schema(hub_server):
    """Each REST route is documented with its operation, parameters and a response model."""
    import re

    from litestar.routes import HTTPRoute

    from hub.app import create_app

    app = create_app()
    async with httpx.AsyncClient(base_url=hub_server) as c:
        spec = (await c.get("/schema/openapi.json")).json()
    documented = {
        (re.sub(r"\{(\w+)\}", r"{\1}", path), method.upper())
        for path, ops in spec["paths"].items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    }
    missing = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/api/"):
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for method in route.methods - {"OPTIONS", "HEAD"}:
            if (path, method) not in documented:
                missing.append(f"{method} {path}")
    assert not missing, missing
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            assert op.get("summary") or op.get("description"), f"{method} {path} has no summary"
            assert op.get("responses"), f"{method} {path} documents no response"
