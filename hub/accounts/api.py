"""Accounts routes (thin: parse, call the service, shape the response)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_201_CREATED,
    HTTP_202_ACCEPTED,
    HTTP_204_NO_CONTENT,
)

from hub.accounts import service, verification
from hub.accounts.schemas import (
    Accepted,
    AuthResponse,
    LoginRequest,
    LogoutRequest,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    ProfilePatch,
    RealtimeToken,
    RealtimeTokenRequest,
    RefreshRequest,
    RegisterRequest,
    ResendOut,
    TokenPair,
    UserOut,
    VerifyEmailRequest,
)
from hub.platform.auth import CurrentUser, Viewer
from hub.platform.errors import unauthorized


def _client_ip(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


class AuthController(Controller):
    path = "/auth"
    tags = ["accounts"]

    @post(
        "/register",
        status_code=HTTP_201_CREATED,
        exclude_from_auth=True,
        summary="Create an account",
    )
    async def register(self, data: JSONBody[RegisterRequest]) -> AuthResponse:
        user, access, refresh, ttl = await service.register(data)
        return AuthResponse(user=user, access_token=access, refresh_token=refresh, expires_in=ttl)

    @post(
        "/login",
        status_code=HTTP_200_OK,
        exclude_from_auth=True,
        summary="Sign in with email and password",
    )
    async def login(
        self, data: JSONBody[LoginRequest], request: Request[Any, Any, Any]
    ) -> AuthResponse:
        user, access, refresh, ttl = await service.login(
            data.email, data.password, _client_ip(request)
        )
        return AuthResponse(user=user, access_token=access, refresh_token=refresh, expires_in=ttl)

    @post(
        "/refresh",
        status_code=HTTP_200_OK,
        exclude_from_auth=True,
        summary="Rotate a refresh token",
    )
    async def refresh(self, data: JSONBody[RefreshRequest]) -> TokenPair:
        access, refresh, ttl = await service.refresh(data.refresh_token)
        return TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl)

    @post(
        "/verify-email",
        status_code=HTTP_200_OK,
        exclude_from_auth=True,
        summary="Verify my email address with the mailed token",
        description="The token from the link mailed at registration (or by /verify-email/resend): "
        "single use, 48 hours. Verifying grants the starter credits, once per address. "
        "400 `invalid-token` when it is unknown, expired or used.",
    )
    async def verify_email(self, data: JSONBody[VerifyEmailRequest]) -> UserOut:
        user_id = await verification.verify_email(data.token)
        return await service.get_profile(user_id)

    @post(
        "/verify-email/resend",
        status_code=HTTP_202_ACCEPTED,
        summary="Mail me a new verification link",
        description="Older links stop working. At most one per minute (429 with Retry-After); "
        "409 when the address is already verified.",
    )
    async def resend_verification(self, request: Request[CurrentUser, Any, Any]) -> ResendOut:
        email = await verification.resend_verification(request.user.id)
        return ResendOut(email=email, detail=f"A new verification link was sent to {email}.")

    @post(
        "/password-reset",
        status_code=HTTP_202_ACCEPTED,
        exclude_from_auth=True,
        summary="Mail a password reset link",
        description="The same answer whether or not an account uses the address. At most one "
        "mail per address per minute (429 with Retry-After).",
    )
    async def password_reset(self, data: JSONBody[PasswordResetRequest]) -> Accepted:
        await verification.request_password_reset(data.email)
        return Accepted(
            detail="If an account uses this address, a link to choose a new password is on "
            "its way. It works once, within an hour."
        )

    @post(
        "/password-reset/confirm",
        status_code=HTTP_204_NO_CONTENT,
        exclude_from_auth=True,
        summary="Set a new password with the mailed token",
        description="Single use, 1 hour. Every session of the account ends (refresh and access "
        "tokens revoked, websockets closed); sign in with the new password. 400 "
        "`invalid-token` when the token is unknown, expired or used.",
    )
    async def password_reset_confirm(self, data: JSONBody[PasswordResetConfirm]) -> None:
        await verification.confirm_password_reset(data.token, data.password)

    @post(
        "/logout", status_code=HTTP_204_NO_CONTENT, summary="Sign out (this session, or everywhere)"
    )
    async def logout(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[LogoutRequest | None] = None
    ) -> None:
        await service.logout(request.user, everywhere=bool(data and data.everywhere))


class MeController(Controller):
    path = "/me"
    tags = ["accounts"]

    @get("/", summary="My profile")
    async def get_me(self, request: Request[CurrentUser, Any, Any]) -> UserOut:
        return await service.get_profile(request.user.id)

    @get("/export", summary="GDPR export: everything stored about me, as JSON")
    async def export_me(self, request: Request[CurrentUser, Any, Any]) -> dict[str, Any]:
        return await service.export_user(request.user.id)

    @delete(
        "/",
        status_code=HTTP_204_NO_CONTENT,
        summary="GDPR erasure: delete my account",
        description="Personal data is removed or anonymised; money records are kept without it. "
        "All sessions end and realtime connections are closed.",
    )
    async def delete_me(self, request: Request[CurrentUser, Any, Any]) -> None:
        await service.erase_user(request.user)

    @patch("/", summary="Update my profile")
    async def patch_me(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[ProfilePatch]
    ) -> UserOut:
        return await service.update_profile(request.user.id, data)

    @post(
        "/password",
        status_code=HTTP_200_OK,
        summary="Change my password",
        description="`{current_password, new_password}`. A wrong current password is 403 "
        "`wrong-password`. Every session of the account ends (refresh families revoked, "
        "websockets closed) and a fresh token pair for this device is returned.",
    )
    async def change_password(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[PasswordChange]
    ) -> TokenPair:
        access, refresh, ttl = await service.change_password(request.user, data)
        return TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl)


class RealtimeTokenController(Controller):
    path = "/realtime"
    tags = ["realtime"]

    @post(
        "/token",
        status_code=HTTP_200_OK,
        exclude_from_auth=True,
        summary="A token for the websocket connect",
        description="Send either `Authorization: Bearer <access token>` or a body with `refresh_token` "
        "(not consumed). The result is a realtime connection token (lifetime "
        "`HUB_REALTIME_TOKEN_TTL_SECONDS`), accepted only by `connect`/`refresh` on "
        "/connection/websocket: REST answers 401 to it, and it cannot mint another token. It "
        "carries no roles: the websocket reads the user's roles and handle from the database at "
        "every connect and refresh.",
    )
    async def realtime_token(
        self, viewer: Viewer, data: JSONBody[RealtimeTokenRequest | None] = None
    ) -> RealtimeToken:
        if viewer is not None:
            from hub.platform.auth import issue_realtime_token

            token, ttl = issue_realtime_token(viewer.id, viewer.family)
        elif data is not None and data.refresh_token:
            token, ttl = await service.realtime_token_from_refresh(data.refresh_token)
        else:
            raise unauthorized("Send a Bearer access token or a refresh_token in the body.")
        return RealtimeToken(token=token, expires_in=ttl)
