"""Request and response bodies for accounts (msgspec; constraints become 400s naming the field)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

Email = Annotated[
    str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]
Handle = Annotated[str, msgspec.Meta(min_length=3, max_length=30, pattern=r"^[A-Za-z0-9_]+$")]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=128)]
DisplayName = Annotated[str, msgspec.Meta(max_length=80)]
Bio = Annotated[str, msgspec.Meta(max_length=2000)]


class RegisterRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password
    handle: Handle
    display_name: DisplayName | None = None


class LoginRequest(msgspec.Struct):
    email: Annotated[str, msgspec.Meta(max_length=254)]
    password: Annotated[str, msgspec.Meta(max_length=128)]


class RefreshRequest(msgspec.Struct):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class LogoutRequest(msgspec.Struct):
    everywhere: bool = False


class RealtimeTokenRequest(msgspec.Struct):
    refresh_token: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class UserOut(msgspec.Struct):
    id: str
    handle: str
    display_name: str
    bio: str
    roles: list[str]
    created_at: datetime
    email: str | None = None  # present only on your own profile
    email_verified: bool | None = None  # likewise


class AuthResponse(msgspec.Struct):
    user: UserOut
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


class TokenPair(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


Token = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class VerifyEmailRequest(msgspec.Struct, forbid_unknown_fields=True):
    token: Token


class ResendOut(msgspec.Struct):
    email: str
    detail: str


class PasswordResetRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(min_length=1, max_length=254)]


class PasswordResetConfirm(msgspec.Struct, forbid_unknown_fields=True):
    token: Token
    password: Password


class Accepted(msgspec.Struct):
    detail: str


class RealtimeToken(msgspec.Struct):
    token: str
    expires_in: int


class ProfilePatch(msgspec.Struct, forbid_unknown_fields=True):
    display_name: DisplayName | None = None
    bio: Bio | None = None
    handle: Handle | None = None


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Annotated[str, msgspec.Meta(max_length=128)]
    new_password: Password
