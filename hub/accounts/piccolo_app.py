import os

from piccolo.conf.apps import AppConfig

from hub.accounts.tables import EmailToken, RefreshToken, User

APP_CONFIG = AppConfig(
    app_name="accounts",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[User, RefreshToken, EmailToken],
    migration_dependencies=[],
)
