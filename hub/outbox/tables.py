"""The outbox table. Constraints and indexes live in the migration."""

from piccolo.columns import JSONB, BigSerial, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class OutboxRow(Table, tablename="outbox"):
    id = BigSerial(primary_key=True)
    kind = Varchar(length=16)
    payload = JSONB()
    created_at = Timestamptz()
    next_attempt_at = Timestamptz()
    attempts = Integer(default=0)
    last_error = Text(null=True, default=None)
    enqueued_at = Timestamptz(null=True, default=None)
