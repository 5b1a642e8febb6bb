"""The mail outbox. The schema itself (constraints, indexes) lives in the migration."""

from piccolo.columns import UUID, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class MailOutbox(Table, tablename="mail_outbox"):
    id = UUID(primary_key=True)
    kind = Varchar(length=40)
    user_id = UUID(null=True)
    to_address = Varchar(length=254)
    subject = Varchar(length=200)
    body = Text()
    created_at = Timestamptz()
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz()
    claimed_until = Timestamptz(null=True, default=None)
    delivered_at = Timestamptz(null=True, default=None)
    last_error = Text(null=True, default=None)
