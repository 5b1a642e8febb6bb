"""A small fake of Stripe Connect at its HTTP boundary (localstripe has no Connect).

Serves what the hub calls: POST /v1/accounts, GET /v1/accounts/{id}, POST /v1/account_links
and POST /v1/transfers, honouring `Idempotency-Key` the way Stripe does (same key, same
object). A destination starting with `acct_refuse` makes a Transfer fail with a 400
`invalid_request_error`; `fail_next_transfers` makes the next calls fail with a 500.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

from tests.fake_http import read_request, send_json


class ConnectFake:
    def __init__(self) -> None:
        self.accounts: dict[str, dict[str, Any]] = {}
        self.transfers: dict[str, dict[str, Any]] = {}
        self.idempotent: dict[str, dict[str, Any]] = {}
        self.transfer_calls = 0
        self.fail_next_transfers = 0
        self.refuse_next_account = False

    def enable(self, account_id: str) -> dict[str, Any]:
        self.accounts[account_id]["payouts_enabled"] = True
        return self.accounts[account_id]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers, body = await read_request(scope, receive)
        form = dict(parse_qsl(body.decode()))
        status, payload = self.route(scope["method"], scope["path"], form, headers)
        await send_json(send, status, payload)

    def route(
        self, method: str, path: str, form: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, Any]:
        key = headers.get("idempotency-key")
        if key and key in self.idempotent:
            return 200, self.idempotent[key]
        status, obj = self._route(method, path, form)
        if key and status == 200:
            self.idempotent[key] = obj
        return status, obj

    def _route(self, method: str, path: str, form: dict[str, str]) -> tuple[int, Any]:
        if method == "POST" and path == "/v1/accounts":
            acct = {
                "id": f"acct_{secrets.token_hex(6)}",
                "object": "account",
                "type": "express",
                "payouts_enabled": False,
                "charges_enabled": False,
            }
            self.accounts[acct["id"]] = acct
            return 200, acct
        if method == "GET" and path.startswith("/v1/accounts/"):
            acct = self.accounts.get(path.rsplit("/", 1)[1])
            return (200, acct) if acct else (404, _error("resource_missing", "No such account"))
        if method == "POST" and path == "/v1/account_links":
            return 200, {
                "object": "account_link",
                "url": f"https://connect.example/setup/{form.get('account')}",
                "created": int(time.time()),
                "expires_at": int(time.time()) + 300,
            }
        if method == "POST" and path == "/v1/transfers":
            self.transfer_calls += 1
            if self.fail_next_transfers > 0:
                self.fail_next_transfers -= 1
                return 500, {"error": {"type": "api_error", "message": "Stripe is having a moment"}}
            destination = form.get("destination", "")
            if destination.startswith("acct_refuse") or destination not in self.accounts:
                return 400, _error(
                    "account_invalid", "The destination account cannot receive transfers."
                )
            tr = {
                "id": f"tr_{secrets.token_hex(6)}",
                "object": "transfer",
                "amount": int(form["amount"]),
                "currency": form.get("currency", "usd"),
                "destination": destination,
            }
            self.transfers[tr["id"]] = tr
            return 200, tr
        return 404, _error("resource_missing", f"{method} {path} is not faked")


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"type": "invalid_request_error", "code": code, "message": message}}
