import os

from piccolo.conf.apps import AppConfig

from hub.media.tables import SampleMedia

APP_CONFIG = AppConfig(
    app_name="media",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[SampleMedia],
    migration_dependencies=["hub.prompts.piccolo_app"],
)
