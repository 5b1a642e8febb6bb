import os

from piccolo.conf.apps import AppConfig

from hub.oauth.tables import OAuthIdentity, OAuthPendingLink

APP_CONFIG = AppConfig(
    app_name="oauth",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[OAuthIdentity, OAuthPendingLink],
    migration_dependencies=["hub.accounts.piccolo_app", "hub.mail.piccolo_app"],
)
