"""Money routes (thin). Importing this module also registers the starter-credits hook."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import Parameter

from hub.accounts import hooks
from hub.auth import CurrentUser
from hub.billing import service
from hub.billing.schemas import EarningsOut, LedgerPage, SalesPage, WalletOut

hooks.add(hooks.on_user_registered, service.on_user_registered)
hooks.exporters["money"] = service.export_user

Limit = Annotated[int, Parameter(ge=1, le=100, description="Page size (at most 100).")]
Cursor = Annotated[str | None, Parameter(description="next_cursor from the previous page.")]


class WalletController(Controller):
    path = "/me"
    tags = ["money"]

    @get("/wallet", summary="My wallet: spendable balance, held for runs, today's spending")
    async def get_wallet(self, request: Request[CurrentUser, Any, Any]) -> WalletOut:
        return await service.wallet(request.user.id)

    @get(
        "/ledger",
        summary="My ledger entries, newest first, each with the balance after it",
    )
    async def get_ledger(
        self, request: Request[CurrentUser, Any, Any], limit: Limit = 20, cursor: Cursor = None
    ) -> LedgerPage:
        return await service.ledger_page(request.user.id, limit, cursor)


class CreatorMoneyController(Controller):
    path = "/creator"
    tags = ["money"]

    @get("/sales", summary="My sales, newest first")
    async def get_sales(
        self, request: Request[CurrentUser, Any, Any], limit: Limit = 20, cursor: Cursor = None
    ) -> SalesPage:
        return await service.creator_sales(request.user.id, limit, cursor)

    @get(
        "/earnings",
        summary="My earnings: pending (in the hold period), available, in transit, paid, lifetime",
    )
    async def get_earnings(self, request: Request[CurrentUser, Any, Any]) -> EarningsOut:
        return await service.creator_earnings(request.user.id)
