"""Strict JSON request bodies, checked before Litestar parses them.

Litestar converts bodies with msgspec's lax rules (`strict=False`), made for query strings:
`{"price_cents": "10"}` would quietly become 10. A JSON body has real types, so a string
where the schema says integer is the client's mistake and deserves a 400 naming the field.
Decoding the raw body once against the handler's body type, strictly, also bounds the work a
hostile body can cause: JSON nested thousands of levels deep is refused with a 400 instead of
exhausting the decoder's recursion limit (a 500 with a traceback in the logs).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import structlog
from litestar import Request
from litestar.enums import RequestEncodingType

from hub.platform.errors import Problem

log = structlog.get_logger(__name__)

_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
_PATH = re.compile(r" - at `\$\.?(.*)`$")


def _decoder(annotation: Any) -> msgspec.json.Decoder[Any]:
    decoder = _decoders.get(annotation)
    if decoder is None:
        decoder = _decoders[annotation] = msgspec.json.Decoder(annotation, strict=True)
    return decoder


def _refuse(message: str, key: str | None = None) -> Problem:
    """A 400 shaped like the framework's own schema errors (`extra[].key`), plus
    `invalid_params[].name` as the hub's other errors name fields."""
    extra: dict[str, Any] = {"message": message, "source": "body"}
    named: dict[str, Any] = {}
    if key:
        extra["key"] = key
        named["invalid_params"] = [{"name": key, "reason": message}]
    return Problem(400, "bad-request", "Bad request", message, extra=[extra], **named)


async def check_json_body(request: Request[Any, Any, Any]) -> None:
    """`before_request` hook: decode the body strictly against the handler's `data` type."""
    field = request.route_handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        return
    media_type = getattr(field.kwarg_definition, "media_type", RequestEncodingType.JSON)
    if media_type != RequestEncodingType.JSON:
        return  # forms are strings by nature
    body = await request.body()
    if not body:
        return  # a missing body is for the handler's signature to accept or refuse
    try:
        _decoder(field.annotation).decode(body)
    except RecursionError:
        log.info("http.body_too_deep", path=request.url.path)
        raise _refuse("JSON nested too deeply; send a flat object as documented.") from None
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _PATH.search(text)
        key = match.group(1) if match else None
        message = _PATH.sub("", text) + (f" at `{key}`" if key else "")
        raise _refuse(message, key) from None
    except msgspec.DecodeError:
        return  # malformed JSON: Litestar answers it with its own 400
