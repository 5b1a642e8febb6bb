import os

from piccolo.conf.apps import AppConfig

from hub.recommendations.tables import (
    PromptSimilar,
    PromptSimilarState,
    UserRecommendation,
    UserRecommendationState,
)

APP_CONFIG = AppConfig(
    app_name="recommendations",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[PromptSimilar, PromptSimilarState, UserRecommendation, UserRecommendationState],
    migration_dependencies=[
        "hub.prompts.piccolo_app",
        "hub.runs.piccolo_app",
        "hub.community.piccolo_app",
    ],
)
