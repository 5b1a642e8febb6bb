"""A real SMTP server in the test process (aiosmtpd), standing in for the world's mail.

The hub sends through its real path (aiosmtplib over TCP to this server); tests read what
arrived, addressed to whom, and follow the links in it like a user would.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import threading
import time
import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from hub.dev.embedded import free_port


def _norm(address: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", address).casefold())


@dataclass
class Received:
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        assert body is not None
        return str(body.get_content())

    def token(self, fragment: str) -> str:
        """The token of a `#<fragment>=<token>` link in the body."""
        match = re.search(rf"#{re.escape(fragment)}=([A-Za-z0-9_-]+)", self.text)
        assert match, f"no #{fragment}= link in: {self.text}"
        return match.group(1)


class Mailbox:
    """Every message the server accepted, in order of arrival."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=false"

    def start(self) -> None:
        """Serve on `port` (again, after `stop`: fault tests take the server down)."""
        self._controller = Controller(
            self, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=True
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self, address: str, subject_contains: str = "") -> list[Received]:
        wanted = _norm(address)
        with self._lock:
            return [
                m
                for m in self.received
                if wanted in (_norm(r) for r in m.rcpt_tos) and subject_contains in m.subject
            ]

    async def wait_for(
        self, address: str, subject_contains: str = "", *, count: int = 1, within: float = 10.0
    ) -> Received:
        """The `count`-th message to this address (with this subject), waiting for it."""
        deadline = time.monotonic() + within
        while len(found := self.to(address, subject_contains)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no message #{count} to {address} ({subject_contains!r}) in {within}s; "
                    f"got {[m.subject for m in found]}"
                )
            await asyncio.sleep(0.02)
        return found[count - 1]
