"""Accounts tables. The schema itself (constraints, indexes) lives in the migrations."""

from piccolo.columns import UUID, Array, ForeignKey, Text, Timestamptz, Varchar
from piccolo.table import Table


class User(Table, tablename="users"):
    id = UUID(primary_key=True)
    email = Varchar(length=254)
    handle = Varchar(length=30)
    display_name = Varchar(length=80)
    bio = Text(default="")
    password_hash = Text()
    roles = Array(base_column=Varchar(length=20), default=list)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    email_verified_at = Timestamptz(null=True, default=None)
    deleted_at = Timestamptz(null=True, default=None)


class RefreshToken(Table, tablename="refresh_tokens"):
    token_hash = Varchar(length=64, primary_key=True)
    family_id = UUID()
    user = ForeignKey(references=User, null=False)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class EmailToken(Table, tablename="email_tokens"):
    """A mailed single-use link (address verification, password reset), stored hashed."""

    token_hash = Varchar(length=64, primary_key=True)
    user_id = ForeignKey(references=User, null=False)
    purpose = Varchar(length=16)
    email = Varchar(length=254)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
