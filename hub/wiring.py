"""The one place where the domains are plugged into the hub: routes, dependencies, hooks.

Importing a domain module registers nothing. Everything a domain offers the rest of the hub
is listed here, so a reader sees the whole app on one screen:

- `register_domain_hooks()`: what happens when a user registers, verifies an address, signs
  out or asks for their data or its erasure (`hub.accounts.hooks`). The app (through
  `HubWiring`), the arq worker and the demo data all call it, so every process runs the same
  hooks.
- `API_V1_HANDLERS` / `WEB_HANDLERS`: the REST controllers under `/api/v1` and the web pages.
- `DEPENDENCIES`: what route handlers may ask for by parameter name (`viewer`: the signed-in
  user on routes that also serve anonymous visitors, or None).
- `HubWiring`: the Litestar plugin that applies all of the above to the app being built
  (`hub.app.create_app` adds the platform around it: middleware, lifespan, OpenAPI, assets).
"""

from __future__ import annotations

from typing import Any

from litestar import Router
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.plugins import InitPluginProtocol

from hub import live
from hub.accounts import hooks
from hub.accounts.api import AuthController, MeController, RealtimeTokenController
from hub.billing import gdpr as billing_gdpr
from hub.billing import wallets
from hub.billing.api import (
    CreatorMoneyController,
    StripeWebhookController,
    TopupController,
    WalletController,
)
from hub.billing.receipts_api import HANDLERS as RECEIPT_HANDLERS
from hub.community import activity
from hub.community import gdpr as community_gdpr
from hub.community.api import HANDLERS as COMMUNITY_HANDLERS
from hub.live.admin_api import RealtimeAdminController
from hub.mail import outbox as mail_outbox
from hub.media.api import SampleMediaController, serve_media
from hub.moderation import gdpr as moderation_gdpr
from hub.moderation.api import HANDLERS as MODERATION_HANDLERS
from hub.oauth import service as oauth
from hub.oauth.api import HANDLERS as OAUTH_HANDLERS
from hub.ops.api import OpsController
from hub.platform.auth import optional_user
from hub.platform.errors import Problem
from hub.prompts.api import HANDLERS as PROMPTS_HANDLERS
from hub.recommendations.api import HANDLERS as RECOMMENDATION_HANDLERS
from hub.rooms import gdpr as rooms_gdpr
from hub.rooms.api import MyRoomsController, RoomsController
from hub.runs import gdpr as runs_gdpr
from hub.runs.api import HANDLERS as RUNS_HANDLERS
from hub.runs.incidents_api import HANDLERS as LEAK_GUARD_HANDLERS
from hub.subscriptions import service as subscriptions
from hub.subscriptions.api import HANDLERS as SUBSCRIPTION_HANDLERS
from hub.web.account_pages import HANDLERS as ACCOUNT_PAGES
from hub.web.fragments import HANDLERS as WEB_FRAGMENTS
from hub.web.fragments import problem_fragment
from hub.web.manage import HANDLERS as MANAGE_FRAGMENTS
from hub.web.market_fragments import HANDLERS as MARKET_FRAGMENTS
from hub.web.moderation_pages import HANDLERS as MODERATION_PAGES
from hub.web.pages import PagesController


def register_domain_hooks() -> None:
    """Plug each domain into the account lifecycle. Calling it again changes nothing."""
    hooks.install(
        # Inside the registration transaction.
        on_registered=[
            activity.touch,  # a new account counts as seen before its first signed-in request
            wallets.on_user_registered,  # opens the wallet
        ],
        # Inside the verification transaction: starter credits, once per address.
        on_verified=[wallets.on_email_verified],
        # After sign-out, a ban or an erasure: close the user's websockets (3011) on every
        # hub process; a no-op in a process without realtime publishing.
        on_signed_out=[live.disconnect_user],
        # Inside the erasure transaction, in this order; money records stay, anonymised.
        on_erased=[
            mail_outbox.erase_user,
            community_gdpr.erase_for_user,
            moderation_gdpr.erase_for_user,
            oauth.erase_user,
            rooms_gdpr.erase_for_user,
            runs_gdpr.erase_user,
            subscriptions.end_for_erased_user,
        ],
        # GET /me/export: one section per domain, in this order.
        exports={
            "mail": mail_outbox.export_user,
            "money": billing_gdpr.export_user,
            "marketplace": community_gdpr.export_for_user,
            "moderation": moderation_gdpr.export_for_user,
            "sign_in_providers": oauth.export_user,
            "rooms": rooms_gdpr.export_for_user,
            "runs": runs_gdpr.export_user,
            "subscriptions": subscriptions.export_user,
        },
    )


API_V1_HANDLERS: list[Any] = [
    AuthController,
    MeController,
    RealtimeTokenController,
    WalletController,
    TopupController,
    StripeWebhookController,
    CreatorMoneyController,
    *RUNS_HANDLERS,
    *LEAK_GUARD_HANDLERS,
    *PROMPTS_HANDLERS,
    *COMMUNITY_HANDLERS,
    RoomsController,
    MyRoomsController,
    RealtimeAdminController,
    *MODERATION_HANDLERS,
    SampleMediaController,
    *RECOMMENDATION_HANDLERS,
    *OAUTH_HANDLERS,
    *RECEIPT_HANDLERS,
    *SUBSCRIPTION_HANDLERS,
]

WEB_HANDLERS: list[Any] = [
    PagesController,
    *WEB_FRAGMENTS,
    *MARKET_FRAGMENTS,
    *MANAGE_FRAGMENTS,
    *ACCOUNT_PAGES,
    *MODERATION_PAGES,
]

DEPENDENCIES: dict[str, Provide] = {
    # A present but invalid Bearer token is a 401, never silently anonymous.
    "viewer": Provide(optional_user),
}


class HubWiring(InitPluginProtocol):
    """Adds the domains to the app: hooks, dependencies and route handlers."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        register_domain_hooks()
        app_config.dependencies.update(DEPENDENCIES)
        api = Router(path="/api/v1", route_handlers=API_V1_HANDLERS)
        web = Router(
            path="/",
            route_handlers=WEB_HANDLERS,
            # The web pages answer errors with an HTML fragment htmx can show, not JSON.
            exception_handlers={Problem: problem_fragment},
            include_in_schema=False,
        )
        # First, as create_app listed them before the platform's own routes.
        app_config.route_handlers[:0] = [api, OpsController, serve_media, web]
        return app_config
