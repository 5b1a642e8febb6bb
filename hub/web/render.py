"""Template engine, filters and the small helpers every web controller uses."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig
from markupsafe import Markup, escape

from hub.platform.settings import get_settings

TEMPLATES = Path(__file__).resolve().parent / "templates"


def money(cents: int | None, signed: bool = False) -> str:
    """`$1.25`; `+$0.20` / `−$0.26` when `signed` (ledger lines)."""
    if cents is None:
        return "—"
    sign = ""
    if signed:
        sign = "+" if cents > 0 else ("−" if cents < 0 else "")
    elif cents < 0:
        sign = "−"
    return f"{sign}${abs(cents) / 100:,.2f}"


def price(cents: int | None) -> str:
    return "Free" if not cents else money(cents)


def iso(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.astimezone(UTC).isoformat()


def when(value: datetime | str | None) -> str:
    """A readable UTC time for the server render; the browser rewrites it in local time."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


def stars(rating: float | int | None) -> str:
    r = round(float(rating or 0))
    return "★" * r + "☆" * (5 - r)


_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{3,30})\b")


def mentions(text: str) -> Markup:
    """Chat text, escaped, with each @handle a link to that person's page."""
    out: list[str] = []
    last = 0
    for m in _MENTION.finditer(text):
        out.append(str(escape(text[last : m.start()])))
        handle = m.group(1)
        out.append(f'<a class="mention" href="/creators/{handle}">@{escape(handle)}</a>')
        last = m.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))


def _engine_setup(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.filters.update(money=money, price=price, iso=iso, when=when, stars=stars, mentions=mentions)
    env.globals.update(new_key=lambda: uuid.uuid4().hex)
    env.trim_blocks = True
    env.lstrip_blocks = True


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(
        directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_engine_setup
    )


def page(name: str, status_code: int = 200, **context: Any) -> Template:
    """A full page (base layout); the public Stripe settings ride along for the wallet."""
    settings = get_settings()
    context.setdefault("stripe_publishable_key", settings.stripe_publishable_key)
    context.setdefault("stripe_js_url", settings.stripe_js_url)
    return Template(template_name=name, context=context, status_code=status_code)


def fragment(name: str, status_code: int = 200, **context: Any) -> Template:
    return Template(template_name=f"fragments/{name}", context=context, status_code=status_code)
