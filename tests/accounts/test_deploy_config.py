"""What ships for deployment: compose runs in production and refuses the development JWT
secret; the image does not let every client choose its own IP."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from hub.platform.settings import DEV_JWT_SECRET, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent.parent


def test_compose_runs_production_and_requires_a_jwt_secret():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for service in ("app", "worker"):
        env = compose["services"][service]["environment"]
        assert env["HUB_ENV"] == "production"
        # `${VAR:?message}`: compose stops with the message when the variable is unset.
        assert re.fullmatch(r"\$\{HUB_JWT_SECRET:\?[^}]+\}", env["HUB_JWT_SECRET"])
    assert DEV_JWT_SECRET not in (ROOT / "docker-compose.yml").read_text()
    # And the app itself refuses the development secret in production.
    with pytest.raises(SettingsError, match="HUB_JWT_SECRET"):
        load_settings({"HUB_ENV": "production"})


def test_the_image_does_not_trust_forwarded_headers_from_anyone():
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = json.loads(next(line for line in dockerfile.splitlines() if line.startswith("CMD"))[3:])
    assert "forwarded-allow-ips" not in dockerfile
    uvicorn = shlex.split(cmd[-1].split("&&")[-1])
    assert uvicorn[:2] == ["uvicorn", "asgi:app"] and "--no-proxy-headers" in uvicorn


def test_trusted_proxies_are_validated():
    assert load_settings({"HUB_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"}).trusted_proxies == (
        "10.0.0.0/8",
        "127.0.0.1",
    )
    with pytest.raises(SettingsError, match="HUB_TRUSTED_PROXIES"):
        load_settings({"HUB_TRUSTED_PROXIES": "not-a-network"})


def test_a_redis_cluster_needs_a_plain_redis_for_the_queue():
    cluster = {"HUB_REDIS_CLUSTER": "true", "REDIS_URL": "redis://node-1:6379"}
    with pytest.raises(SettingsError, match="HUB_QUEUE_REDIS_URL"):
        load_settings(cluster)
    settings = load_settings({**cluster, "HUB_QUEUE_REDIS_URL": "redis://queue:6379/0"})
    assert settings.queue_redis == "redis://queue:6379/0"
    assert settings.realtime_redis_separate
    plain = load_settings({"REDIS_URL": "redis://one:6379/0"})
    assert plain.queue_redis == "redis://one:6379/0" and not plain.realtime_redis_separate
