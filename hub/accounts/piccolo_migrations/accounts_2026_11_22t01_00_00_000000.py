from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-22T01:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "users and refresh tokens"

SQL = """
CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email varchar(254) NOT NULL,
    handle varchar(30) NOT NULL,
    display_name varchar(80) NOT NULL DEFAULT '',
    bio text NOT NULL DEFAULT '' CHECK (length(bio) <= 2000),
    password_hash text NOT NULL,
    roles varchar(20)[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
)
;;
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))
;;
CREATE UNIQUE INDEX users_handle_lower_key ON users (lower(handle))
;;
CREATE TABLE refresh_tokens (
    token_hash varchar(64) PRIMARY KEY,
    family_id uuid NOT NULL,
    "user" uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    revoked_at timestamptz
)
;;
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id)
;;
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens ("user")
;;
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "accounts", DESCRIPTION, SQL)
