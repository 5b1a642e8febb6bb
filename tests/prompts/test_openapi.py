"""Every marketplace route is in /schema with request and response models."""

from __future__ import annotations

MARKETPLACE_ROUTES = {
    ("post", "/api/v1/prompts"),
    ("get", "/api/v1/prompts"),
    ("get", "/api/v1/prompts/{prompt_id}"),
    ("patch", "/api/v1/prompts/{prompt_id}"),
    ("delete", "/api/v1/prompts/{prompt_id}"),
    ("get", "/api/v1/prompts/{prompt_id}/versions"),
    ("get", "/api/v1/prompts/{prompt_id}/samples"),
    ("post", "/api/v1/prompts/{prompt_id}/samples"),
    ("delete", "/api/v1/prompts/{prompt_id}/samples/{sample_id}"),
    ("get", "/api/v1/prompts/{prompt_id}/reviews"),
    ("post", "/api/v1/prompts/{prompt_id}/reviews"),
    ("post", "/api/v1/prompts/{prompt_id}/reviews/{review_id}/reply"),
    ("get", "/api/v1/me/prompts"),
    ("get", "/api/v1/creators/{handle}"),
    ("post", "/api/v1/creators/{handle}/follow"),
    ("delete", "/api/v1/creators/{handle}/follow"),
    ("get", "/api/v1/me/following"),
    ("get", "/api/v1/me/feed"),
    ("get", "/api/v1/me/notifications"),
    ("post", "/api/v1/me/notifications/read"),
}


async def test_marketplace_routes_are_documented_with_models(client):
    r = await client.get("/../../schema/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    paths = doc["paths"]
    documented = {(m, p) for p, ops in paths.items() for m in ops}
    assert MARKETPLACE_ROUTES <= documented, MARKETPLACE_ROUTES - documented
    for method, path in MARKETPLACE_ROUTES:
        op = paths[path][method]
        assert op.get("summary"), (method, path)
        if method in ("post", "patch") and "follow" not in path:
            assert "requestBody" in op, (method, path)
        ok = [c for c in op["responses"] if c.startswith("2")]
        assert ok, (method, path)
        if ok[0] != "204":
            content = op["responses"][ok[0]].get("content", {})
            assert content and any("schema" in c for c in content.values()), (method, path)
    schemas = doc["components"]["schemas"]
    prompt_out = next(v for k, v in schemas.items() if k.endswith("PromptOut"))
    assert "template" in prompt_out["properties"]
    assert "template" not in prompt_out.get("required", [])
    page = next(v for k, v in schemas.items() if k.endswith("PromptPage"))
    assert set(page["properties"]) == {"items", "next_cursor"}
