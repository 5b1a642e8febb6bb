"""Turn one message into an email and hand it over: SMTP, or an .eml file in development.

With `HUB_SMTP_URL` set, mail goes through aiosmtplib: `smtp://user:password@host:587`
(STARTTLS when the server offers it; `?starttls=false` to refuse it) or
`smtps://user:password@host:465` (TLS from the first byte). Without it (`make run`), each
message is written as an .eml file under `HUB_MAIL_DIR` (`.devdata/mail/`) and the log says
"mail written to <path>": open the file to follow a link. Logs never carry a message body,
which may hold a single-use token.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import structlog

from hub.platform.settings import Settings, get_settings

log = structlog.get_logger(__name__)

SMTP_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class Mail:
    """One message to one person, in plain text."""

    to: str
    subject: str
    text: str
    kind: str = "mail"  # what it is for, in file names and logs: verify_email, password_reset, ...
    id: str = ""  # a stable id (the outbox row's), so a resent message keeps its Message-ID


def compose(mail: Mail, settings: Settings | None = None) -> EmailMessage:
    settings = settings or get_settings()
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = settings.mail_from.rsplit("@", 1)[-1].strip("> ") or "betterprompt.dev"
    message["Message-ID"] = f"<{mail.id}@{domain}>" if mail.id else make_msgid(domain=domain)
    # Plain ASCII stays 7bit, so a link is one unbroken line in the .eml (quoted-printable
    # would fold it); anything else is quoted-printable.
    message.set_content(mail.text, cte="7bit" if mail.text.isascii() else "quoted-printable")
    return message


async def send(mail: Mail, settings: Settings | None = None) -> str:
    """Deliver now; returns where it went. Raises on an SMTP failure (the caller retries)."""
    settings = settings or get_settings()
    message = compose(mail, settings)
    if settings.smtp_url:
        return await _send_smtp(message, settings.smtp_url)
    path = await asyncio.to_thread(_write_eml, message, mail, Path(settings.mail_dir))
    log.info(f"mail written to {path}", kind=mail.kind, mail_id=mail.id)
    return str(path)


async def _send_smtp(message: EmailMessage, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("HUB_SMTP_URL must look like smtp://user:password@host:587")
    implicit_tls = parts.scheme == "smtps"
    port = parts.port or (465 if implicit_tls else 587)
    options = parse_qs(parts.query)
    starttls = options.get("starttls", [""])[0].lower()
    await aiosmtplib.send(
        message,
        hostname=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=implicit_tls,
        start_tls=False if starttls in ("false", "0", "no") else None,
        timeout=SMTP_TIMEOUT_SECONDS,
    )
    return f"{parts.scheme}://{parts.hostname}:{port}"


def _write_eml(message: EmailMessage, mail: Mail, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = directory / f"{stamp}-{mail.kind}-{mail.id or 'mail'}.eml"
    path.write_bytes(bytes(message))
    return path
