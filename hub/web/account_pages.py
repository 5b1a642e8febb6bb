"""The account area beyond the profile: choosing a new password from the mailed link, the
notification settings, and the people you blocked.

Same conventions as hub.web.fragments: the pages are public shells, what is personal loads
as fragments with the Bearer token, and the services' problems come back as notices.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath
from litestar.response import Template

from hub.community import blocks, preferences
from hub.community.schemas import NotificationSettingsPatch, TypeSettingPatch
from hub.platform.auth import CurrentUser
from hub.web.fragments import Form, PageCursor
from hub.web.render import fragment, page


class AccountPages(Controller):
    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @get("/reset-password", name="reset_password")
    async def reset_password(self) -> Template:
        """The mailed link lands here with its token in the fragment (no server sees it)."""
        return page("reset_password.html")

    @get("/account/notifications", name="notification_settings")
    async def notification_settings(self) -> Template:
        return page(
            "account_section.html",
            active="/account",
            tab="/account/notifications",
            title="Notification settings",
            fragment_url="/web/notification-settings",
            intro="Choose what reaches you in the app and what goes into the email digest.",
            live=True,
        )

    @get("/account/blocked", name="blocked_people")
    async def blocked(self) -> Template:
        return page(
            "account_section.html",
            active="/account",
            tab="/account/blocked",
            title="Blocked people",
            fragment_url="/web/blocks",
            intro="People you block cannot follow you, mention you or send you messages, "
            "and you get no notifications about them.",
            live=False,
        )


class AccountFragments(Controller):
    path = "/web"
    include_in_schema = False
    cache_control = CacheControlHeader(no_store=True)

    @get("/notification-settings")
    async def settings(self, request: Request[CurrentUser, Any, Any]) -> Template:
        return fragment(
            "notification_settings.html", s=await preferences.get_settings(request.user.id)
        )

    @post("/notification-settings", status_code=200)
    async def save_settings(self, request: Request[CurrentUser, Any, Any], data: Form) -> Template:
        """The form sends every box that is ticked; an unticked box is an "off"."""
        patch = NotificationSettingsPatch(
            types={
                kind: TypeSettingPatch(
                    in_app=f"in_app.{kind}" in data, email=f"email.{kind}" in data
                )
                for kind in preferences.KINDS
            },
            email_digest="email_digest" in data,
        )
        out = await preferences.update_settings(request.user.id, patch)
        return fragment("notification_settings.html", s=out, saved=True)

    @get("/blocks")
    async def blocked(
        self, request: Request[CurrentUser, Any, Any], cursor: PageCursor = None
    ) -> Template:
        page_ = await blocks.list_blocked(request.user.id, cursor, 50)
        name = "blocked_items.html" if cursor else "blocked.html"
        return fragment(name, page=page_)

    @post("/blocks", status_code=200)
    async def block(self, request: Request[CurrentUser, Any, Any], data: Form) -> Template:
        handle = data.get("handle", "").strip().lstrip("@")
        state, _ = await blocks.block(request.user.id, handle)
        page_ = await blocks.list_blocked(request.user.id, None, 50)
        text = f"You blocked @{state.handle}."
        template = fragment("blocked.html", page=page_, notice=text)
        template.headers["HX-Retarget"] = "#blocked-area"
        template.headers["HX-Reswap"] = "outerHTML"
        return template

    @post("/blocks/{handle:str}/from-profile", status_code=200)
    async def block_from_profile(
        self, request: Request[CurrentUser, Any, Any], handle: FromPath[str]
    ) -> Template:
        """The creator page's "Block" button: says what it did and how to undo it."""
        state, _ = await blocks.block(request.user.id, handle)
        return fragment("blocked_notice.html", handle=state.handle)

    @delete("/blocks/{handle:str}", status_code=200)
    async def unblock(
        self, request: Request[CurrentUser, Any, Any], handle: FromPath[str]
    ) -> Template:
        state = await blocks.unblock(request.user.id, handle)
        page_ = await blocks.list_blocked(request.user.id, None, 50)
        return fragment("blocked.html", page=page_, notice=f"You unblocked @{state.handle}.")


HANDLERS: list[Any] = [AccountPages, AccountFragments]
