import os

from piccolo.conf.apps import AppConfig

from hub.prompts.tables import Prompt, PromptSample, PromptVersion

APP_CONFIG = AppConfig(
    app_name="prompts",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[Prompt, PromptVersion, PromptSample],
    migration_dependencies=["hub.accounts.piccolo_app"],
)
