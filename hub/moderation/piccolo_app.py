import os

from piccolo.conf.apps import AppConfig

from hub.moderation.tables import CommunitySuspension, ModerationAudit, ModerationCase, Report

APP_CONFIG = AppConfig(
    app_name="moderation",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[ModerationCase, Report, CommunitySuspension, ModerationAudit],
    migration_dependencies=["hub.accounts.piccolo_app"],
)
