"""Bodies of the sign-in-with-a-provider routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from hub.accounts.schemas import UserOut

Provider = Literal["github", "google"]
Opaque = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]


class ProviderOut(msgspec.Struct):
    name: Provider
    label: str
    start_url: str


class ProvidersOut(msgspec.Struct):
    """Only configured providers are listed (client id and secret set)."""

    items: list[ProviderOut]


class StartRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`link: true` (signed in) adds the provider to your account instead of signing in."""

    link: bool = False


class StartOut(msgspec.Struct):
    provider: Provider
    authorization_url: str
    state: str
    # Keep it in this browser (sessionStorage) and send it back with the callback: it ties
    # the sign-in to the browser that started it.
    flow_secret: str
    expires_in: int


class CallbackRequest(msgspec.Struct, forbid_unknown_fields=True):
    code: Opaque
    state: Opaque
    flow_secret: Opaque


class OAuthResult(msgspec.Struct, omit_defaults=True):
    """`signed_in` / `linked`: the sign-in pair as from /auth/login (`created` for a new
    account). `confirmation_sent`: an account already uses the provider's address; a link was
    mailed there (`email`, `detail`)."""

    status: Literal["signed_in", "linked", "confirmation_sent"]
    user: UserOut | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    expires_in: int | None = None
    token_type: str | None = None
    created: bool | None = None
    email: str | None = None
    detail: str | None = None


class LinkConfirmRequest(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class IdentityOut(msgspec.Struct):
    provider: Provider
    label: str
    email: str | None
    created_at: datetime
    last_used_at: datetime


class IdentitiesOut(msgspec.Struct):
    items: list[IdentityOut]
    next_cursor: str | None = None
