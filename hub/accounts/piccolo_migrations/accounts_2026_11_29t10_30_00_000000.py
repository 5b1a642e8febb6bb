from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.platform.db import fetch, run_ddl

ID = "2026-11-29T10:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "emails stored normalised (NFKC + casefold); email verification; single-use tokens"

# Emails are now normalised by the application (hub.accounts.emails) and unique as stored.
# Existing rows are normalised here, oldest first. Two old accounts whose addresses only the
# new form unifies (e.g. `straße@` and `strasse@`) cannot both take it: the newer one keeps
# its old spelling (still unique) and is logged for support to resolve.
SQL = """
ALTER TABLE users ADD COLUMN email_verified_at timestamptz
;;
CREATE TABLE email_tokens (
    token_hash varchar(64) PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose varchar(16) NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    email varchar(254) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
)
;;
CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose) WHERE used_at IS NULL
;;
CREATE INDEX email_tokens_expires_idx ON email_tokens (expires_at)
"""

INDEXES = """
DROP INDEX users_email_lower_key
;;
CREATE UNIQUE INDEX users_email_key ON users (email)
"""


async def normalise_existing() -> None:
    import structlog

    from hub.accounts.emails import normalise_email

    log = structlog.get_logger("hub.platform.migrate")
    rows = await fetch("SELECT id, email FROM users ORDER BY created_at, id")
    taken = {r["email"] for r in rows}
    for r in rows:
        email = normalise_email(r["email"])
        if email == r["email"]:
            continue
        if email in taken:
            log.warning("migrate.email_not_normalised", user_id=str(r["id"]))
            continue
        await fetch("UPDATE users SET email = $2 WHERE id = $1", r["id"], email)
        taken.discard(r["email"])
        taken.add(email)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="accounts", description=DESCRIPTION)

    async def run() -> None:
        await run_ddl(SQL)
        await run_ddl(INDEXES)
        await normalise_existing()

    manager.add_raw(run)
    return manager
