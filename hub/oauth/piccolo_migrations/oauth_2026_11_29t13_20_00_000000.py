from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import sql_migration

ID = "2026-11-29T13:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "oauth: identities linked to accounts, and links waiting for a mailed confirmation"

# One identity per (provider, subject) anywhere, and one per provider per account: the unique
# indexes decide races (two tabs finishing the same sign-in). A pending link is a mailed,
# single-use token (only its SHA-256 is stored) proving control of the account's address.
SQL = """
CREATE TABLE oauth_identities (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider varchar(16) NOT NULL CHECK (provider IN ('github', 'google')),
    subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    email text,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT oauth_identities_subject_key UNIQUE (provider, subject),
    CONSTRAINT oauth_identities_user_provider_key UNIQUE (user_id, provider)
)
;;
CREATE TABLE oauth_pending_links (
    token_hash text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider varchar(16) NOT NULL CHECK (provider IN ('github', 'google')),
    subject text NOT NULL,
    email text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
)
;;
CREATE INDEX oauth_pending_links_user_idx ON oauth_pending_links (user_id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "oauth", DESCRIPTION, SQL)
