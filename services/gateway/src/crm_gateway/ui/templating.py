"""Rendering pages: one Jinja environment per language, whole pages or one block.

A page is a full template; what htmx swaps is a block of that same template, rendered
alone (``jinja2_fragments.render_block``), so no markup exists twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2_fragments import render_block
from starlette.requests import Request
from starlette.responses import HTMLResponse

from crm_gateway.ui.i18n import LANGUAGE_COOKIE, LANGUAGES, Language, as_language, translations
from crm_gateway.ui.static import static
from crm_shared.timezones import BERLIN

TEMPLATES = Path(__file__).parent / "templates"


def _as_datetime(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _filters(language: Language) -> dict[str, Any]:
    def datetime_(value: str | datetime | None, fmt: str = "short") -> str:
        moment = _as_datetime(value)
        if moment is None:
            return ""
        return format_datetime(moment, fmt, tzinfo=BERLIN, locale=language)

    def date_(value: str | date | None, fmt: str = "medium") -> str:
        if value is None or value == "":
            return ""
        day = date.fromisoformat(value[:10]) if isinstance(value, str) else value
        return format_date(day, fmt, locale=language)

    def local_input(value: str | datetime | None) -> str:
        """The value of a ``datetime-local`` field: Berlin time, minutes."""
        moment = _as_datetime(value)
        return moment.astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M") if moment else ""

    def number(value: str | int | float | Decimal | None, digits: int = 0) -> str:
        if value is None or value == "":
            return ""
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(Decimal(str(value)), format=pattern, locale=language)

    return {
        "datetime": datetime_,
        "date": date_,
        "local_input": local_input,
        "number": number,
        "pairs": pairs,
    }


def pairs(
    items: list[Any], value: str | None = None, text: str | None = None
) -> list[tuple[Any, Any]]:
    """Options of a pull-down: ``(value, text)`` of each item (a plain list: the item twice)."""
    if value is None:
        return [(item, item) for item in items]
    return [(item[value], item[text or value]) for item in items]


@cache
def environment(language: Language) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n", "jinja2.ext.do"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(_filters(language))
    env.globals.update(languages=LANGUAGES, static=static)
    # the macros of every page, as globals: a block rendered alone (htmx) sees no imports
    env.globals.update(
        f=env.get_template("parts/fields.html").make_module(),
        label=env.get_template("parts/labels.html").make_module(),
    )
    return env


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (it then swaps a part of the page)."""
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    language: Language,
    block: str | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The page (or one ``block`` of it) in ``language``; remembers a ``?lang=`` switch."""
    env = environment(language)
    values = {"request": request, "lang": language, **context}
    if block is None:
        html = env.get_template(template).render(values)
    else:
        html = render_block(env, template, block, values)
    response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
    switched = as_language(request.query_params.get("lang"))
    if switched is not None:
        response.set_cookie(
            LANGUAGE_COOKIE, switched, max_age=365 * 86400, samesite="lax", httponly=True
        )
    return response
