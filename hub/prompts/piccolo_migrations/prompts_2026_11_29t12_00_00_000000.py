from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "prompts: the leak guard setting and its incident count"

# - `leak_guard`: the creator asks for the leak guard on a prompt that is not in Private Mode
#   (Private Mode always has it).
# - `leak_guard_redactions`: spans of template text hidden from this prompt's runs, all time;
#   the partial index serves the admin list and the metric without reading every prompt.
SQL = """
ALTER TABLE prompts ADD COLUMN leak_guard boolean NOT NULL DEFAULT false
;;
ALTER TABLE prompts ADD COLUMN leak_guard_redactions bigint NOT NULL DEFAULT 0
    CONSTRAINT prompts_leak_guard_redactions_nonnegative CHECK (leak_guard_redactions >= 0)
;;
CREATE INDEX prompts_leak_guard_redactions_idx ON prompts (leak_guard_redactions DESC, id DESC)
    WHERE leak_guard_redactions > 0
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "prompts", DESCRIPTION, SQL)
