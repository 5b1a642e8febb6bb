import os

from piccolo.conf.apps import AppConfig

from hub.rooms.tables import Room, RoomBan, RoomMember, RoomMessage, RoomRead

APP_CONFIG = AppConfig(
    app_name="rooms",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[Room, RoomMember, RoomMessage, RoomBan, RoomRead],
    migration_dependencies=["hub.accounts.piccolo_app"],
)
