"""Problem-details errors with actionable messages (RFC 9457).

Everything raised here is rendered as application/problem+json by the ProblemDetailsPlugin.
"""

from __future__ import annotations

from typing import Any

from litestar.plugins.problem_details import ProblemDetailsException

PROBLEM_BASE = "https://betterprompt.dev/problems/"


class Problem(ProblemDetailsException):
    """A problem with a stable `type` slug, a human `title` and an actionable `detail`."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(
            status_code=status,
            type_=PROBLEM_BASE + slug,
            title=title,
            detail=detail,
            headers=headers,
            extra=extra or None,
        )


def bad_request(detail: str, field: str | None = None) -> Problem:
    extra: dict[str, Any] = {"invalid_params": [{"name": field, "reason": detail}]} if field else {}
    return Problem(400, "bad-request", "Bad request", detail, **extra)


def validation_error(field: str, detail: str) -> Problem:
    return Problem(
        422,
        "validation",
        "Invalid input",
        detail,
        invalid_params=[{"name": field, "reason": detail}],
    )


def unauthorized(detail: str = "Sign in to do this.") -> Problem:
    return Problem(
        401, "unauthorized", "Not signed in", detail, headers={"WWW-Authenticate": "Bearer"}
    )


def forbidden(detail: str) -> Problem:
    return Problem(403, "forbidden", "Not allowed", detail)


def not_found(what: str) -> Problem:
    return Problem(
        404, "not-found", "Not found", f"{what} does not exist or is not visible to you."
    )


def conflict(detail: str, slug: str = "conflict") -> Problem:
    return Problem(409, slug, "Conflict", detail)


def too_many(detail: str, retry_after: int) -> Problem:
    return Problem(
        429,
        "rate-limited",
        "Too many requests",
        detail,
        headers={"Retry-After": str(retry_after)},
        retry_after=retry_after,
    )
