"""Sign in with GitHub / Google: routes (the flow itself is hub.oauth.service)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from hub.oauth import providers, service
from hub.oauth.schemas import (
    CallbackRequest,
    IdentitiesOut,
    IdentityOut,
    LinkConfirmRequest,
    OAuthResult,
    Provider,
    ProviderOut,
    ProvidersOut,
    StartOut,
    StartRequest,
)
from hub.platform.auth import CurrentUser, optional_user
from hub.platform.errors import unauthorized


def _result(data: dict[str, Any]) -> Response[OAuthResult]:
    status = HTTP_202_ACCEPTED if data["status"] == "confirmation_sent" else HTTP_200_OK
    return Response(OAuthResult(**data), status_code=status)


class OAuthController(Controller):
    path = "/auth/oauth"
    tags = ["accounts"]

    @get(
        "/providers",
        exclude_from_auth=True,
        summary="Sign-in providers offered",
        description="The providers configured on this hub (a provider without a client id "
        "and secret is not listed).",
    )
    async def list_providers(self) -> ProvidersOut:
        return ProvidersOut(
            items=[
                ProviderOut(
                    name=p, label=providers.LABELS[p], start_url=f"/api/v1/auth/oauth/{p}/start"
                )
                for p in providers.configured()
            ]
        )

    @post(
        "/{provider:str}/start",
        exclude_from_auth=True,
        status_code=HTTP_200_OK,
        summary="Start signing in with a provider",
        description="Returns the provider's `authorization_url` (authorization code + PKCE "
        "S256; OpenID Connect `nonce` for Google) with a single-use `state` valid "
        "`HUB_OAUTH_STATE_TTL_SECONDS`, and a `flow_secret` to keep in this browser for the "
        "callback. With `link: true` and a Bearer token the provider is added to your account. "
        "404 for a provider that is not configured.",
    )
    async def start(
        self,
        request: Request[Any, Any, Any],
        provider: FromPath[Provider],
        data: JSONBody[StartRequest | None] = None,
    ) -> StartOut:
        link_user = None
        if data is not None and data.link:
            # Called here, not injected as `viewer`: only linking reads the token, so a stale
            # one in a plain sign-in start is ignored rather than a 401.
            user = await optional_user(request)
            if user is None:
                raise unauthorized("Sign in to link a provider to your account.")
            link_user = user.id
        return StartOut(**await service.start(provider, link_user))

    @post(
        "/{provider:str}/callback",
        exclude_from_auth=True,
        status_code=HTTP_200_OK,
        summary="Finish signing in with a provider",
        description="Send the `code` and `state` the provider returned to the redirect URI "
        "(`<HUB_PUBLIC_URL>/auth/callback/<provider>`) and the `flow_secret` from start. 200 "
        "`signed_in` (a new account has `created: true`, its email verified) or `linked`; "
        "202 `confirmation_sent` when another account already uses the provider's verified "
        "address (a link is mailed there). 400 `oauth-failed` for an expired, reused or "
        "foreign state, or a code or ID token the provider or we refuse (wrong audience, "
        "nonce, signature); 422 naming `email` when the provider vouches for no address.",
    )
    async def callback(
        self, provider: FromPath[Provider], data: JSONBody[CallbackRequest]
    ) -> Response[OAuthResult]:
        return _result(await service.callback(provider, data.code, data.state, data.flow_secret))

    @post(
        "/link/confirm",
        exclude_from_auth=True,
        status_code=HTTP_200_OK,
        summary="Confirm linking a provider by the mailed link",
        description="The token from the mailed `…/#link-identity=<token>` link: single use, "
        "`HUB_OAUTH_LINK_TTL_SECONDS`. Links the provider to the account and signs it in. "
        "400 `invalid-token` when unknown, expired or used.",
    )
    async def confirm_link(self, data: JSONBody[LinkConfirmRequest]) -> Response[OAuthResult]:
        return _result(await service.confirm_link(data.token))


class IdentitiesController(Controller):
    path = "/me/identities"
    tags = ["accounts"]

    @get("/", summary="Providers linked to my account")
    async def mine(self, request: Request[CurrentUser, Any, Any]) -> IdentitiesOut:
        rows = await service.list_identities(request.user.id)
        return IdentitiesOut(items=[IdentityOut(**r) for r in rows])

    @delete(
        "/{provider:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Unlink a provider",
        description="409 `last-sign-in-method` when it is the only way into the account (no "
        "password and no other provider): set a password first.",
    )
    async def unlink(
        self, request: Request[CurrentUser, Any, Any], provider: FromPath[Provider]
    ) -> None:
        await service.unlink(request.user.id, provider)


HANDLERS: list[Any] = [OAuthController, IdentitiesController]
