"""Receipt routes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath

from hub.billing import receipts
from hub.billing.receipt_schemas import ReceiptOut, ReceiptPage
from hub.platform.auth import CurrentUser
from hub.platform.pagination import Cursor, Limit


class ReceiptsController(Controller):
    path = "/me/receipts"
    tags = ["money"]

    @get(
        "/",
        summary="My receipts",
        description="Top-ups, run charges and refunds, sales, refunds by support and payouts "
        "(and subscription invoices), newest first. Each links to its printable page.",
    )
    async def list_receipts(
        self, request: Request[CurrentUser, Any, Any], cursor: Cursor = None, limit: Limit = 20
    ) -> ReceiptPage:
        return await receipts.list_receipts(request.user.id, limit, cursor)

    @get(
        "/{receipt_id:int}",
        summary="A receipt",
        description="One money event from your side: lines, subtotal, fee, `taxes` (null: not "
        "collected yet), total, dates and the ids behind it. 404 unless your money moved in it.",
    )
    async def get_receipt(
        self, request: Request[CurrentUser, Any, Any], receipt_id: FromPath[int]
    ) -> ReceiptOut:
        return await receipts.receipt(receipt_id, request.user.id)


HANDLERS: list[Any] = [ReceiptsController]
