"""A small fake of Stripe Billing at its HTTP boundary (localstripe has Plans but no Prices,
and no `default_incomplete` Subscriptions).

Serves what the hub calls: POST /v1/customers, /v1/products, /v1/prices, /v1/subscriptions
(`items[0][price]`, `payment_behavior=default_incomplete`, the first invoice's PaymentIntent
expanded), POST /v1/subscriptions/{id} (`cancel_at_period_end`) and GET/DELETE of one
subscription, honouring `Idempotency-Key` (same key, same object). The test plays Stripe's
side of time: `pay()` / `fail()` a subscription's current invoice and `renew()` it for the
next period, each returning the webhook event Stripe would send.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

from tests.fake_http import read_request, send_json

MONTH = 30 * 24 * 3600


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": kind,
        "data": {"object": json.loads(json.dumps(obj))},
    }


def _nest(form: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (`items[0][price]=...`) back into dicts and lists."""
    out: dict[str, Any] = {}
    for key, value in form:
        parts = key.replace("]", "").split("[")
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt: Any = value if last else ([] if parts[i + 1].isdigit() else {})
            if isinstance(node, list):
                idx = int(part)
                while len(node) <= idx:
                    node.append({})
                if last:
                    node[idx] = value
                node = node[idx]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, nxt)
    return out


class BillingFake:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.idempotent: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers, body = await read_request(scope, receive)
        form = _nest(parse_qsl(body.decode(), keep_blank_values=True))
        key = headers.get("idempotency-key")
        if key and key in self.idempotent:
            status, payload = 200, self.idempotent[key]
        else:
            status, payload = self.route(scope["method"], scope["path"], form)
            if key and status == 200:
                self.idempotent[key] = payload
        await send_json(send, status, payload)

    def route(self, method: str, path: str, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.calls.append((method, path))
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v1/customers":
            return 200, self._store(
                {
                    "id": _id("cus"),
                    "object": "customer",
                    "email": form.get("email"),
                    "metadata": form.get("metadata", {}),
                }
            )
        if method == "POST" and path == "/v1/products":
            return 200, self._store(
                {
                    "id": _id("prod"),
                    "object": "product",
                    "name": form.get("name"),
                    "metadata": form.get("metadata", {}),
                }
            )
        if method == "POST" and path == "/v1/prices":
            recurring = form.get("recurring", {})
            if recurring.get("interval") != "month" or form.get("currency") != "usd":
                return 400, {"error": {"type": "invalid_request_error", "message": "bad price"}}
            return 200, self._store(
                {
                    "id": _id("price"),
                    "object": "price",
                    "product": form.get("product"),
                    "unit_amount": int(form["unit_amount"]),
                    "currency": "usd",
                    "recurring": {"interval": "month"},
                    "active": True,
                }
            )
        if method == "POST" and path == "/v1/subscriptions":
            return self._subscribe(form)
        if len(parts) == 3 and parts[1] == "subscriptions":
            sub = self.objects.get(parts[2])
            if sub is None:
                return 404, {
                    "error": {"type": "invalid_request_error", "message": "No such subscription"}
                }
            if method == "GET":
                return 200, sub
            if method == "POST":
                if "cancel_at_period_end" in form:
                    sub["cancel_at_period_end"] = form["cancel_at_period_end"] == "true"
                return 200, sub
            if method == "DELETE":
                sub["status"] = "canceled"
                return 200, sub
        return 404, {"error": {"type": "invalid_request_error", "message": f"{method} {path}"}}

    def _store(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects[obj["id"]] = obj
        return obj

    def _subscribe(self, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        customer = self.objects.get(form.get("customer", ""))
        items = form.get("items") or []
        price = self.objects.get(items[0].get("price", "")) if items else None
        if customer is None or price is None:
            return 400, {
                "error": {"type": "invalid_request_error", "message": "No such customer or price"}
            }
        if form.get("payment_behavior") != "default_incomplete":
            return 400, {
                "error": {"type": "invalid_request_error", "message": "use default_incomplete"}
            }
        now = int(time.time())
        sub = self._store(
            {
                "id": _id("sub"),
                "object": "subscription",
                "customer": customer["id"],
                "status": "incomplete",
                "cancel_at_period_end": False,
                "current_period_start": now,
                "current_period_end": now + MONTH,
                "items": {"data": [{"price": price}]},
                "metadata": form.get("metadata", {}),
                "latest_invoice": None,
            }
        )
        invoice = self._invoice(sub, now)
        expanded = dict(sub, latest_invoice=invoice)
        return 200, expanded

    def _invoice(self, sub: dict[str, Any], start: int) -> dict[str, Any]:
        price = sub["items"]["data"][0]["price"]
        pi = {
            "id": _id("pi"),
            "object": "payment_intent",
            "amount": price["unit_amount"],
            "client_secret": f"{_id('pi')}_secret_{secrets.token_hex(6)}",
            "status": "requires_payment_method",
        }
        invoice = self._store(
            {
                "id": _id("in"),
                "object": "invoice",
                "subscription": sub["id"],
                "customer": sub["customer"],
                "amount_due": price["unit_amount"],
                "amount_paid": 0,
                "currency": "usd",
                "status": "open",
                "period_start": start,
                "period_end": start + MONTH,
                "lines": {"data": [{"period": {"start": start, "end": start + MONTH}}]},
                "payment_intent": pi,
            }
        )
        sub["latest_invoice"] = invoice["id"]
        return invoice

    # --- Stripe's side of time: what it would send us ---------------------------------------

    def pay(self, sub_id: str) -> list[dict[str, Any]]:
        """The current invoice is paid: `invoice.paid`, then `customer.subscription.updated`."""
        sub = self.objects[sub_id]
        invoice = self.objects[sub["latest_invoice"]]
        invoice.update(status="paid", amount_paid=invoice["amount_due"])
        sub.update(
            status="active",
            current_period_start=invoice["period_start"],
            current_period_end=invoice["period_end"],
        )
        return [event("invoice.paid", invoice), event("customer.subscription.updated", sub)]

    def fail(self, sub_id: str) -> list[dict[str, Any]]:
        sub = self.objects[sub_id]
        invoice = self.objects[sub["latest_invoice"]]
        invoice.update(status="open", attempt_count=1)
        sub.update(status="past_due")
        return [
            event("invoice.payment_failed", invoice),
            event("customer.subscription.updated", sub),
        ]

    def renew(self, sub_id: str, *, start: int | None = None) -> None:
        """A new period begins: a new open invoice (pay or fail it next)."""
        sub = self.objects[sub_id]
        self._invoice(sub, start if start is not None else sub["current_period_end"])

    def end(self, sub_id: str) -> list[dict[str, Any]]:
        """The period ended on a subscription set to cancel (or Stripe gave up retrying)."""
        sub = self.objects[sub_id]
        sub.update(status="canceled", ended_at=int(time.time()))
        return [event("customer.subscription.deleted", sub)]
