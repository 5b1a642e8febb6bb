import os

from piccolo.conf.apps import AppConfig

from hub.community.tables import (
    Block,
    CreatorStats,
    FeedItem,
    Follow,
    Notification,
    NotificationDigest,
    NotificationSettings,
    Review,
)

APP_CONFIG = AppConfig(
    app_name="community",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[
        Follow,
        CreatorStats,
        Review,
        Notification,
        FeedItem,
        NotificationSettings,
        Block,
        NotificationDigest,
    ],
    migration_dependencies=["hub.prompts.piccolo_app"],
)
