from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "media: images attached to prompt samples"

# One row per image: the re-encoded original and its thumbnail are two objects in the media
# store (keys unique, never reused). Rows go with their sample (ON DELETE CASCADE); the
# service deletes the objects after the row.
SQL = """
CREATE TABLE sample_media (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sample_id uuid NOT NULL REFERENCES prompt_samples (id) ON DELETE CASCADE,
    prompt_id uuid NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    key text NOT NULL UNIQUE,
    thumbnail_key text NOT NULL UNIQUE,
    content_type varchar(32) NOT NULL
        CHECK (content_type IN ('image/png', 'image/jpeg', 'image/webp')),
    width integer NOT NULL CHECK (width > 0),
    height integer NOT NULL CHECK (height > 0),
    bytes integer NOT NULL CHECK (bytes > 0),
    thumbnail_width integer NOT NULL CHECK (thumbnail_width > 0),
    thumbnail_height integer NOT NULL CHECK (thumbnail_height > 0),
    alt varchar(300) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
)
;;
CREATE INDEX sample_media_sample_idx ON sample_media (sample_id, created_at, id)
;;
CREATE INDEX sample_media_prompt_idx ON sample_media (prompt_id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "media", DESCRIPTION, SQL)
