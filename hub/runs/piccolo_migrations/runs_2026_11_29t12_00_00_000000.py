from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "runs: the leak guard's incident count per run"

# Spans of template text the leak guard hid from the run's output, over all its attempts.
# The terminal-state trigger leaves this column alone: the count is written as the stream
# closes, just before the terminal transition. The partial index lists runs with incidents.
SQL = """
ALTER TABLE runs ADD COLUMN leak_guard_redactions integer NOT NULL DEFAULT 0
    CONSTRAINT runs_leak_guard_redactions_nonnegative CHECK (leak_guard_redactions >= 0)
;;
CREATE INDEX runs_leak_guard_idx ON runs (prompt_id, created_at DESC, id DESC)
    WHERE leak_guard_redactions > 0
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "runs", DESCRIPTION, SQL)
