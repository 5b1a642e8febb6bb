"""Test policy and authenticator shared by the test hub app, the tests and the benchmark.

Tokens are `<user_id>:<expires_at unix or 0>`; "invalid" (or no colon) is rejected.
"""

from __future__ import annotations

import time
from typing import Any

from realtime import (
    ANONYMOUS,
    Credentials,
    InvalidToken,
    NamespaceOptions,
    PublishRejected,
    SimplePolicy,
    TokenExpired,
)

NAMESPACES = {
    "public": NamespaceOptions(history_size=100, history_ttl_seconds=300),
    "runs": NamespaceOptions(history_size=1000, history_ttl_seconds=300),
    "nohist": NamespaceOptions(),
    "chat": NamespaceOptions(
        history_size=100,
        history_ttl_seconds=300,
        presence=True,
        join_leave=True,
        allow_publish=True,
    ),
    "members": NamespaceOptions(history_size=10, history_ttl_seconds=300, allow_anonymous=False),
    "private": NamespaceOptions(history_size=10, history_ttl_seconds=300),
    "notifications": NamespaceOptions(history_size=100, history_ttl_seconds=300),
    "small": NamespaceOptions(history_size=5, history_ttl_seconds=300),
    "state": NamespaceOptions(history_size=10, history_ttl_seconds=300, recovery_mode="cache"),
    "snap": NamespaceOptions(history_size=10, history_ttl_seconds=300, allow_delta=True),
}


class TokenAuthenticator:
    async def authenticate(self, token: str | None) -> Credentials:
        if not token:
            return ANONYMOUS
        if token == "invalid" or ":" not in token:
            raise InvalidToken(token)
        user, _, exp = token.partition(":")
        expires_at = int(exp) or None
        if expires_at is not None and expires_at <= time.time():
            raise TokenExpired(token)
        return Credentials(user_id=user, expires_at=expires_at, info={"name": f"user {user}"})


def can_subscribe(creds: Credentials, channel: str) -> bool:
    if channel.startswith("private:"):
        return creds.user_id is not None and creds.user_id.startswith("vip")
    return True


def on_publish(creds: Credentials, channel: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or "text" not in data:
        raise PublishRejected(107, "bad request")
    if data["text"] == "forbidden":
        raise PublishRejected(103, "message rejected")
    return {"type": "room.message", "text": data["text"], "by": creds.user_id}


def make_policy() -> SimplePolicy:
    return SimplePolicy(
        NAMESPACES,
        can_subscribe=can_subscribe,
        on_publish=on_publish,
        rpc_methods={
            "echo": lambda creds, data: data,
            "whoami": lambda creds, data: {"user": creds.user_id},
        },
    )
