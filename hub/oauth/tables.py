"""OAuth tables. The schema itself (constraints, indexes) lives in the migrations."""

from piccolo.columns import UUID, ForeignKey, Text, Timestamptz, Varchar
from piccolo.table import Table

from hub.accounts.tables import User


class OAuthIdentity(Table, tablename="oauth_identities"):
    id = UUID(primary_key=True)
    user_id = ForeignKey(references=User, null=False)
    provider = Varchar(length=16)
    subject = Text()
    email = Text(null=True, default=None)
    created_at = Timestamptz()
    last_used_at = Timestamptz()


class OAuthPendingLink(Table, tablename="oauth_pending_links"):
    token_hash = Text(primary_key=True)
    user_id = ForeignKey(references=User, null=False)
    provider = Varchar(length=16)
    subject = Text()
    email = Text()
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
