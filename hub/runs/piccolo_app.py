import os

from piccolo.conf.apps import AppConfig

from hub.runs.tables import Run

APP_CONFIG = AppConfig(
    app_name="runs",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[Run],
    migration_dependencies=[
        "hub.accounts.piccolo_app",
        "hub.prompts.piccolo_app",
        "hub.billing.piccolo_app",
    ],
)
