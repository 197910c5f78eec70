"""The Jinja2 environment of the pages and the filters that format sales figures."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates

from topline.analytics import glossary
from topline.web.csrf import FORM_FIELD, HEADER, csrf_token

TEMPLATES_DIR = Path(__file__).parent / "templates"

# The org currency is USD for now; other codes print after the amount ("1,200 SEK").
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def format_money(cents: int | None, currency: str = "USD") -> str:
    """An amount in minor units as whole currency units: 1234550 -> "$12,346".

    Dashboards show whole units; halves round away from zero, as finance teams expect.
    """
    if cents is None:
        return "—"
    units = (Decimal(cents) / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    sign = "-" if units < 0 else ""
    digits = f"{abs(units):,.0f}"
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    if symbol is None:
        return f"{sign}{digits} {currency.upper()}"
    return f"{sign}{symbol}{digits}"


def format_percent(ratio: float | None, decimals: int = 0) -> str:
    """A probability or share between 0 and 1 as a percentage: 0.4 -> "40%"."""
    if ratio is None:
        return "—"
    percent = (Decimal(str(ratio)) * 100).quantize(
        Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP
    )
    return f"{percent}%"


def format_date(value: date | datetime | None) -> str:
    """A calendar date the way US sales teams write it: "Mar 31, 2025"."""
    if value is None:
        return "—"
    return f"{value:%b} {value.day}, {value.year}"


def format_datetime(value: datetime | None) -> str:
    """A moment in UTC, to the minute: "Mar 31, 2025 14:05 UTC"."""
    if value is None:
        return "—"
    return f"{format_date(value)} {value:%H:%M} UTC"


def _page_context(request: Request) -> dict[str, Any]:
    # The 500 handler runs outside the session middleware, so there may be no session.
    has_session = "session" in request.scope
    return {
        "csrf_token": csrf_token(request) if has_session else "",
        "csrf_field": FORM_FIELD,
        "csrf_header": HEADER,
        "current_user": getattr(request.state, "user", None),
    }


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        # A misspelt variable fails the page in tests instead of rendering as blank.
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = format_money
    env.filters["percent"] = format_percent
    env.filters["date"] = format_date
    env.filters["datetime"] = format_datetime
    # `define("win-rate")`: a glossary term's definition, for the tooltip where it appears.
    env.globals["define"] = glossary.define
    return env


templates = Jinja2Templates(env=_environment(), context_processors=[_page_context])
