"""Piccolo configuration: the engine comes from settings (DATABASE_URL), apps are the hub's domains."""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

from hub.platform.settings import get_settings

_url = get_settings().database_url
if not _url:
    raise RuntimeError(
        "DATABASE_URL is not set. `make run` starts an embedded PostgreSQL and sets it for you."
    )

DB = PostgresEngine(config={"dsn": _url})

# Order matters only for readability; migration_dependencies in each app fix the real order.
APP_REGISTRY = AppRegistry(
    apps=[
        "hub.mail.piccolo_app",
        "hub.accounts.piccolo_app",
        "hub.prompts.piccolo_app",
        "hub.billing.piccolo_app",
        "hub.runs.piccolo_app",
        "hub.community.piccolo_app",
        "hub.rooms.piccolo_app",
        "hub.moderation.piccolo_app",
        "hub.outbox.piccolo_app",
        "hub.media.piccolo_app",
        "hub.recommendations.piccolo_app",
        "hub.oauth.piccolo_app",
        "hub.subscriptions.piccolo_app",
    ]
)
