"""One typed, frozen settings object read from the environment.

Every knob is an environment variable with the `HUB_` prefix, except the service URLs, which
use the names every hosting platform already sets (`DATABASE_URL`, `REDIS_URL`).
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from typing import Any

import msgspec

DEV_JWT_SECRET = "dev-insecure-secret-change-me-0123456789abcdef"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    env: str = "dev"  # dev | test | production
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = ""
    # The realtime engine's Redis (channels, history, presence): a plain Redis, or with
    # HUB_REDIS_CLUSTER any node of a Redis Cluster 7+ (sharded pub/sub).
    redis_url: str = ""
    redis_cluster: bool = False
    # Everything else (the arq queue, rate limits, token revocation, caches, heartbeats): a
    # plain Redis; default REDIS_URL. Required with HUB_REDIS_CLUSTER (arq needs one node).
    queue_redis_url: str = ""
    jwt_secret: str = DEV_JWT_SECRET
    access_ttl_seconds: int = 900
    refresh_ttl_seconds: int = 30 * 24 * 3600
    cors_origins: tuple[str, ...] = ()
    # Proxies whose X-Forwarded-For names the client (addresses or CIDRs); default none.
    trusted_proxies: tuple[str, ...] = ()
    hsts: bool = False
    log_level: str = "INFO"
    log_json: bool = True
    # Login throttling: failures allowed per window before 429.
    login_max_failures_per_account: int = 5
    login_max_failures_per_ip: int = 20
    login_window_seconds: int = 900
    # Chat: messages per user per room, and per user across all rooms, per window.
    chat_messages_per_room: int = 10
    chat_messages_per_user: int = 20
    chat_window_seconds: int = 10
    # General API rate limit per client per minute (Redis-backed store).
    rate_limit_per_minute: int = 600
    # Password hashing (Argon2id; OWASP's floor by default; see hub/accounts/passwords.py).
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19456
    argon2_parallelism: int = 1
    password_hash_threads: int = 0  # 0: one per core
    # Dependencies: every Redis call and every Postgres connect/acquire/command has a deadline,
    # so a paused or unreachable server cannot hang a request or a worker.
    redis_timeout_seconds: float = 1.0
    realtime_redis_timeout_seconds: float = 5.0
    db_connect_timeout_seconds: float = 2.0
    db_command_timeout_seconds: float = 30.0
    # The worker touches this file on every loop turn (a container health check reads it).
    worker_alive_file: str = ""
    worker_heartbeat_key: str = "hub:worker:heartbeat"
    worker_heartbeat_ttl_seconds: int = 30
    # Promotional credits granted once the account's email is verified (once per address).
    starter_credits_cents: int = 500
    # Creator earnings funded by promotional credits payable per creator per calendar month.
    promo_earnings_cap_cents: int = 1000
    # Mail: SMTP (smtp://user:pass@host:587, smtps://... for implicit TLS) or, when empty,
    # .eml files in mail_dir (development).
    smtp_url: str = ""
    mail_from: str = "BetterPrompt Hub <no-reply@betterprompt.dev>"
    mail_dir: str = ".devdata/mail"
    email_verify_ttl_seconds: int = 48 * 3600
    password_reset_ttl_seconds: int = 3600
    mail_resend_seconds: int = 60  # one verification or reset mail per address this often
    # Realtime
    realtime_ping_seconds: float = 25.0
    realtime_pong_timeout_seconds: float = 10.0
    realtime_token_grace_seconds: float = 30.0
    # Lifetime of the connection tokens POST /realtime/token mints.
    realtime_token_ttl_seconds: int = 900
    # Community: a burst of notifications of one kind about one thing within this window is
    # one item ("@bob and 4 others followed you").
    notification_group_window_seconds: int = 3600
    # Email digests: users away this long with unread notifications get one email per period.
    digest_offline_hours: float = 24.0
    digest_period_hours: float = 24.0
    # Typing indicators: how long one shows without a repeat, and how often a user may send one.
    typing_ttl_seconds: float = 6.0
    typing_min_interval_seconds: float = 2.0
    # Money
    platform_fee_bps: int = 2000
    daily_spending_limit_cents: int = 5000
    earnings_hold_days: float = 7.0
    payout_minimum_cents: int = 1000
    # Demo AI provider
    demo_tokens_per_second: float = 40.0
    # Leak guard: runs of this many consecutive template words are hidden from a run's output
    # (output following the template is held back up to this many words minus one); see
    # hub/runs/leak_guard.py.
    leak_guard_words: int = 6
    # Runs: streaming, persistence, liveness (see hub/runs)
    run_default_max_tokens: int = 200
    run_coalesce_ms: float = 50.0  # a quiet run's text goes out at once; then ~1 delta per...
    run_coalesce_tokens: int = 32  # ...this window, or as soon as this many tokens wait
    run_persist_seconds: float = 1.0  # output + stream position + heartbeat written this often
    run_publish_stall_seconds: float = 60.0  # deltas Redis did not take for this long: run fails
    run_stale_seconds: float = 15.0  # no heartbeat for this long: the reaper takes over
    run_max_attempts: int = 2  # a run whose worker died is restarted until this many attempts
    run_queued_timeout_seconds: float = 600.0  # a run never started by then is failed + refunded
    # Providers: timeouts, retries before the first token, circuit breaker
    provider_connect_timeout_seconds: float = 5.0
    provider_first_token_timeout_seconds: float = 30.0
    provider_read_timeout_seconds: float = 30.0
    provider_max_retries: int = 3
    provider_retry_base_seconds: float = 0.5
    provider_retry_max_seconds: float = 8.0
    provider_breaker_failures: int = 5
    provider_breaker_cooldown_seconds: float = 30.0
    # Payments (empty = not configured)
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = ""
    # Stripe.js for the wallet's card form: the publishable key (empty = no card form) and
    # where Stripe.js is loaded from (tests point it at localstripe's double).
    stripe_publishable_key: str = ""
    stripe_js_url: str = "https://js.stripe.com/v3/"
    # Stripe Connect (payouts) API base; empty = the same as stripe_api_base.
    stripe_connect_api_base: str = ""
    # Where Stripe's Express onboarding sends the creator back (the web client by default).
    public_url: str = "http://127.0.0.1:8000"
    # Media samples: images creators attach to samples. Stored on S3-compatible storage when
    # s3_bucket is set, else under media_dir; see hub/media.
    media_dir: str = ".devdata/media"
    media_max_bytes: int = 5 * 1024 * 1024
    media_max_pixels: int = 25_000_000
    media_max_side: int = 8000
    media_thumbnail_px: int = 480
    s3_bucket: str = ""
    s3_endpoint_url: str = ""  # empty = AWS's own; set for MinIO, R2, moto ...
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_prefix: str = "media/"
    # Where browsers fetch objects: a public bucket or CDN base URL; empty = pre-signed URLs.
    s3_public_url: str = ""
    s3_presign_seconds: int = 3600
    # Recommendations: lists refreshed per cron turn, and how old a list may get.
    recommendations_batch: int = 500
    recommendations_refresh_seconds: int = 6 * 3600
    # Sign in with GitHub / Google (OAuth2 + PKCE; Google through OpenID Connect). A provider
    # without a client id and secret is not offered. The URLs are for tests and proxies.
    oauth_github_client_id: str = ""
    oauth_github_client_secret: str = ""
    oauth_github_authorize_url: str = "https://github.com/login/oauth/authorize"
    oauth_github_token_url: str = "https://github.com/login/oauth/access_token"
    oauth_github_api_url: str = "https://api.github.com"
    oauth_google_client_id: str = ""
    oauth_google_client_secret: str = ""
    oauth_google_issuer: str = "https://accounts.google.com"
    oauth_state_ttl_seconds: int = 600
    oauth_link_ttl_seconds: int = 3600
    # Creator subscriptions (Stripe Billing): its API base (tests point it at a fake; empty =
    # stripe_api_base), and how long after a period ends a failed renewal keeps covering runs.
    stripe_billing_api_base: str = ""
    subscription_grace_days: float = 3.0
    # OpenAI-compatible provider
    openai_base_url: str = ""
    openai_api_key: str = ""

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def queue_redis(self) -> str:
        """The plain Redis of the queue, rate limits, revocation and caches."""
        return self.queue_redis_url or self.redis_url

    @property
    def realtime_redis_separate(self) -> bool:
        """The realtime engine's Redis is not the queue's (a cluster, or another server)."""
        return self.redis_cluster or self.queue_redis != self.redis_url

    def redacted(self) -> dict[str, Any]:
        """Settings safe to log: secrets and credentials in URLs replaced."""
        out = msgspec.structs.asdict(self)
        for key in (
            "jwt_secret",
            "stripe_secret_key",
            "stripe_webhook_secret",
            "openai_api_key",
            "s3_secret_access_key",
            "oauth_github_client_secret",
            "oauth_google_client_secret",
        ):
            if out.get(key):
                out[key] = "***"
        for key in ("database_url", "redis_url", "queue_redis_url", "smtp_url"):
            out[key] = _redact_url(out[key])
        return out


def _redact_url(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


class SettingsError(RuntimeError):
    pass


def _coerce(name: str, raw: str, annotation: Any) -> Any:
    if annotation in (bool, "bool"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if annotation in (int, "int"):
        return int(raw)
    if annotation in (float, "float"):
        return float(raw)
    if "tuple" in str(annotation):
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    return raw


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build Settings from `HUB_*` variables plus DATABASE_URL / REDIS_URL and Stripe/OpenAI keys."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(Settings):
        raw = env.get(f"HUB_{field.name.upper()}")
        if raw is None:
            continue
        try:
            values[field.name] = _coerce(field.name, raw, field.type)
        except ValueError as exc:
            raise SettingsError(f"HUB_{field.name.upper()}: {exc}") from exc
    aliases = {
        "database_url": "DATABASE_URL",
        "redis_url": "REDIS_URL",
        "stripe_secret_key": "STRIPE_SECRET_KEY",
        "stripe_webhook_secret": "STRIPE_WEBHOOK_SECRET",
        "stripe_publishable_key": "STRIPE_PUBLISHABLE_KEY",
        "openai_api_key": "OPENAI_API_KEY",
        "openai_base_url": "OPENAI_BASE_URL",
    }
    for name, var in aliases.items():
        if name not in values and env.get(var):
            values[name] = env[var]
    settings = Settings(**values)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    if settings.is_production and settings.jwt_secret == DEV_JWT_SECRET:
        raise SettingsError(
            "refusing to start in production with the development JWT secret: set HUB_JWT_SECRET"
        )
    if len(settings.jwt_secret) < 32:
        raise SettingsError("HUB_JWT_SECRET must be at least 32 characters")
    if settings.argon2_memory_kib < 7168 or settings.argon2_time_cost < 1:
        raise SettingsError(
            "HUB_ARGON2_MEMORY_KIB must be at least 7168 and HUB_ARGON2_TIME_COST at least 1 "
            "(OWASP's minimum for Argon2id)"
        )
    if not 4 <= settings.leak_guard_words <= 8:
        raise SettingsError("HUB_LEAK_GUARD_WORDS must be between 4 and 8")
    try:
        for proxy in settings.trusted_proxies:
            ipaddress.ip_network(proxy, strict=False)
    except ValueError as exc:
        raise SettingsError(f"HUB_TRUSTED_PROXIES: {exc}") from exc
    if (
        settings.media_max_bytes < 1024
        or settings.media_max_pixels < 1
        or settings.media_max_side < 16
    ):
        raise SettingsError("HUB_MEDIA_MAX_BYTES, _MAX_PIXELS and _MAX_SIDE must be positive")
    if settings.s3_bucket and bool(settings.s3_access_key_id) != bool(
        settings.s3_secret_access_key
    ):
        raise SettingsError(
            "set both HUB_S3_ACCESS_KEY_ID and HUB_S3_SECRET_ACCESS_KEY, or neither"
        )
    if not 0 <= settings.platform_fee_bps <= 10000:
        raise SettingsError("HUB_PLATFORM_FEE_BPS must be between 0 and 10000")
    if settings.redis_cluster and not settings.queue_redis_url:
        raise SettingsError(
            "HUB_REDIS_CLUSTER=true needs HUB_QUEUE_REDIS_URL: the job queue, rate limits and "
            "token revocation use a plain (non-cluster) Redis"
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
