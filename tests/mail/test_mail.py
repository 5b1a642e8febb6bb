"""The mail sender and its outbox: SMTP through aiosmtplib to a real (in-process) server,
.eml files in development, and delivery that survives an SMTP outage."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
import uuid
from pathlib import Path

from hub import mail
from hub.platform.db import fetchrow, transaction
from tests.conftest import ROOT, unique
from workers.mail import deliver_pending_mail


def test_without_smtp_each_message_is_an_eml_file_and_the_log_hides_the_token(tmp_path):
    """`make run` has no SMTP server: the message lands in HUB_MAIL_DIR, the log says where."""
    secret = f"token-{uuid.uuid4().hex}"
    script = (
        "import asyncio\n"
        "from hub.platform.logging import configure_logging\n"
        "from hub.mail import Mail, send\n"
        "configure_logging('INFO', True)\n"
        f"asyncio.run(send(Mail(to='ada@example.com', subject='Hello', "
        f"text='Open http://127.0.0.1:8000/#verify-email={secret}', kind='verify_email')))\n"
    )
    env = {
        **os.environ,
        "HUB_SMTP_URL": "",
        "HUB_MAIL_DIR": str(tmp_path / "mail"),
        "HUB_ENV": "dev",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    [path] = list((tmp_path / "mail").glob("*.eml"))
    assert f"mail written to {path}" in done.stderr
    assert secret not in done.stderr
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "ada@example.com" and message["Subject"] == "Hello"
    assert secret in message.get_body().get_content()


async def test_a_message_survives_an_smtp_outage(hub_server, mailbox):
    """Queued in a transaction, it waits out the outage and is sent by the worker's sweep."""
    address = f"{unique('outage_')}@example.com"
    mailbox.stop()
    try:
        async with transaction():
            mail_id = await mail.queue(
                to=address, subject="Still here", text="after the outage", kind="test"
            )
        assert await mail.deliver(mail_id) is False
        row = await fetchrow("SELECT * FROM mail_outbox WHERE id = $1", uuid.UUID(mail_id))
        assert row["delivered_at"] is None and row["attempts"] == 1
        assert row["last_error"] and row["next_attempt_at"] > row["created_at"]
    finally:
        mailbox.start()
    # Due again (instead of waiting out the backoff), the sweep sends it once.
    await fetchrow(
        "UPDATE mail_outbox SET next_attempt_at = now() WHERE id = $1 RETURNING id",
        uuid.UUID(mail_id),
    )
    assert await deliver_pending_mail({}) >= 1
    received = await mailbox.wait_for(address, "Still here")
    assert received.text.strip() == "after the outage"
    assert received.message["Message-ID"].startswith(f"<{mail_id}@")
    row = await fetchrow("SELECT * FROM mail_outbox WHERE id = $1", uuid.UUID(mail_id))
    assert row["delivered_at"] is not None and row["body"] == ""
    assert len(mailbox.to(address)) == 1


def test_eml_directory_default_is_under_devdata():
    from hub.platform.settings import Settings

    assert Path(Settings().mail_dir) == Path(".devdata/mail")
