"""Outgoing mail, for every feature that writes to users (verification, resets, digests).

- `queue(...)` inside the transaction of the cause, then `deliver_soon(ids)` after commit;
  the worker's sweep delivers what that missed (see `outbox`).
- `send(Mail(...))` delivers at once, for callers with nothing to commit.
Delivery goes through SMTP (aiosmtplib) when `HUB_SMTP_URL` is set, otherwise to .eml files
under `HUB_MAIL_DIR` (see `sender`).
"""

from hub.mail.outbox import deliver, deliver_pending, deliver_soon, queue
from hub.mail.sender import Mail, compose, send

__all__ = ["Mail", "compose", "deliver", "deliver_pending", "deliver_soon", "queue", "send"]
