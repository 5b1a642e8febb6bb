"""Money routes (thin)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from hub.billing import creators, payouts, topups, wallets
from hub.billing.schemas import (
    EarningsOut,
    LedgerPage,
    PayoutAccountOut,
    PayoutPage,
    SalesPage,
    SalesTotals,
    TopupOut,
    WalletOut,
    WebhookOut,
)
from hub.platform.auth import CurrentUser
from hub.platform.pagination import Cursor, Limit


class WalletController(Controller):
    path = "/me"
    tags = ["money"]

    @get("/wallet", summary="My wallet: spendable balance, held for runs, today's spending")
    async def get_wallet(self, request: Request[CurrentUser, Any, Any]) -> WalletOut:
        return await wallets.wallet(request.user.id)

    @get(
        "/ledger",
        summary="My ledger entries, newest first, each with the balance after it",
    )
    async def get_ledger(
        self, request: Request[CurrentUser, Any, Any], limit: Limit = 20, cursor: Cursor = None
    ) -> LedgerPage:
        return await wallets.ledger_page(request.user.id, limit, cursor)


class TopupRequest(msgspec.Struct, forbid_unknown_fields=True):
    amount_cents: Annotated[int, msgspec.Meta(ge=topups.MIN_TOPUP_CENTS, le=topups.MAX_TOPUP_CENTS)]


class TopupController(Controller):
    path = "/me/wallet/topups"
    tags = ["money"]

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Start a wallet top-up (Stripe PaymentIntent)",
        description="Returns the PaymentIntent's client secret for Stripe.js. The wallet is "
        "credited only when Stripe's signed webhook confirms the payment. An optional "
        "`Idempotency-Key` header makes retries return the same PaymentIntent. "
        "503 when payments are not configured.",
    )
    async def create_topup(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[TopupRequest]
    ) -> TopupOut:
        key = request.headers.get("idempotency-key")
        return await topups.create_topup(
            request.user.id, data.amount_cents, key[:200] if key else None
        )


class StripeWebhookController(Controller):
    path = "/webhooks/stripe"
    tags = ["money"]

    @post(
        "/",
        status_code=HTTP_200_OK,
        exclude_from_auth=True,
        summary="Stripe webhook (signed with Stripe-Signature)",
        description="400 when the signature is invalid; each event id is applied at most once.",
    )
    async def stripe_webhook(self, request: Request[Any, Any, Any]) -> WebhookOut:
        return await topups.handle_webhook(
            await request.body(), request.headers.get("stripe-signature")
        )


class CreatorMoneyController(Controller):
    path = "/creator"
    tags = ["money"]

    @get("/sales", summary="My sales, newest first")
    async def get_sales(
        self, request: Request[CurrentUser, Any, Any], limit: Limit = 20, cursor: Cursor = None
    ) -> SalesPage:
        return await creators.creator_sales(request.user.id, limit, cursor)

    @get(
        "/sales/totals",
        summary="My sales per prompt and per day",
        description="Over the last `days` days (default 30, at most 366), refunded sales "
        "excluded: `per_prompt` (best first) and `per_day` (every UTC day, zeros included, "
        "oldest first), each with `count`, `gross_cents`, `earning_cents`.",
    )
    async def get_sales_totals(
        self,
        request: Request[CurrentUser, Any, Any],
        days: Annotated[int, Parameter(ge=1, le=366)] = 30,
    ) -> SalesTotals:
        return await creators.sales_totals(request.user.id, days)

    @get(
        "/earnings",
        summary="My earnings: pending (in the hold period), available, in transit, paid, lifetime",
    )
    async def get_earnings(self, request: Request[CurrentUser, Any, Any]) -> EarningsOut:
        return await creators.creator_earnings(request.user.id)

    @post(
        "/payout-account",
        status_code=HTTP_200_OK,
        summary="Create or return my Stripe Connect payout account, with its onboarding link",
        description="`onboarding_url` is present until Stripe enables payouts for the account. "
        "503 when payments are not configured.",
    )
    async def payout_account(self, request: Request[CurrentUser, Any, Any]) -> PayoutAccountOut:
        return await payouts.payout_account(request.user.id)

    @get("/payouts", summary="My payouts, newest first")
    async def list_payouts(
        self, request: Request[CurrentUser, Any, Any], limit: Limit = 20, cursor: Cursor = None
    ) -> PayoutPage:
        return await payouts.list_payouts(request.user.id, limit, cursor)
