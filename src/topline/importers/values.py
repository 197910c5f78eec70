"""Cell values to Topline values: text, numbers, money, dates, yes/no and choices.

Every converter takes one cell (text from a CSV, or a typed value from an XLSX sheet) that is
not empty and returns the value or raises `BadValue` with a message a person can act on
("ambiguous date '03/04/2025': set date_formats in the mapping, e.g. %m/%d/%Y").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from topline.importers.sources import Cell

E = TypeVar("E", bound=StrEnum)


class BadValue(ValueError):
    """A cell that does not hold a value of the field's kind."""


# Dates and moments read from text, remembered per `Formats`: an export repeats the same few
# thousand days over millions of rows. Bounded: a cache this full starts over.
CACHE_SIZE = 65_536


@dataclass(frozen=True)
class Formats:
    """How the source writes dates and numbers (from the mapping)."""

    date_formats: tuple[str, ...] = ()
    decimal_separator: str = "."
    timezone: str = "UTC"
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _dates: dict[str, date] = field(init=False, repr=False, compare=False)
    _moments: dict[str, datetime] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", ZoneInfo(self.timezone))
        object.__setattr__(self, "_dates", {})
        object.__setattr__(self, "_moments", {})

    @property
    def zone(self) -> ZoneInfo:
        return self._zone


ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SLASHED = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
TEXT_MONTH_FORMATS = ("%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%d-%b-%Y", "%d-%B-%Y")
_MONEY_NOISE = re.compile(r"[\s$€£¥\u00a0\u202f]|^[A-Z]{3}\s*|\s*[A-Z]{3}$")
_TRUE = frozenset({"1", "true", "yes", "y", "x", "t", "on", "ja", "oui", "si", "sí"})
_FALSE = frozenset({"0", "false", "no", "n", "f", "off", "nein", "non"})


def as_text(cell: Cell, *, max_length: int) -> str:
    """Text, whitespace trimmed; numbers from a spreadsheet as they read (1234, not 1234.0)."""
    if type(cell) is str:
        text = cell.strip()
    else:
        if isinstance(cell, float) and cell.is_integer():
            cell = int(cell)
        text = str(cell).strip()
    if "\x00" in text:
        raise BadValue("text with a NUL character")
    if len(text) > max_length:
        raise BadValue(f"longer than {max_length} characters ({len(text)})")
    return text


def as_int(cell: Cell) -> int:
    """A whole number; 1,234 and 1234.0 are accepted, 12.5 and -3 are not."""
    number = _decimal(cell, Formats())
    if number != number.to_integral_value():
        raise BadValue(f"{cell!r} is not a whole number")
    if number < 0:
        raise BadValue(f"{cell!r} is negative")
    return int(number)


_ONE = Decimal(1)
# An amount as most exports write it (1234 or 1234.5 or 1234.56): read without Decimal.
_PLAIN_AMOUNT = re.compile(r"([0-9]{1,15})(?:\.([0-9]{1,2}))?")
MAX_CENTS = 2**53 - 1


def as_cents(cell: Cell, formats: Formats, *, scale: Decimal = _ONE) -> int:
    """Money in cents from an amount in major units times `scale` (e.g. 1000000 for an amount
    given in millions); currency symbols and thousands separators are ignored."""
    if type(cell) is str and scale is _ONE and formats.decimal_separator == ".":
        plain = _PLAIN_AMOUNT.fullmatch(cell)
        if plain is not None:
            whole, fraction = plain.groups()
            cents = int(whole) * 100 + (int(fraction.ljust(2, "0")) if fraction else 0)
            if cents > MAX_CENTS:
                raise BadValue(f"amount {cell!r} is too large")
            return cents
    amount = _decimal(cell, formats) * scale
    if amount < 0:
        raise BadValue(f"negative amount {cell!r}")
    rounded = (amount * 100).quantize(_ONE)
    if rounded > MAX_CENTS:
        raise BadValue(f"amount {cell!r} is too large")
    return int(rounded)


def number(cell: Cell, formats: Formats) -> Decimal:
    """A number written the source's way: 1,234.56 or (with a decimal comma) 1.234,56; currency
    symbols and codes are ignored and (12) is negative."""
    return _decimal(cell, formats)


def _decimal(cell: Cell, formats: Formats) -> Decimal:
    if isinstance(cell, bool | date | datetime):
        raise BadValue(f"{cell!r} is not a number")
    if isinstance(cell, int | float):
        return Decimal(str(cell))
    text = _MONEY_NOISE.sub("", str(cell).strip())
    negative = text.startswith("(") and text.endswith(")")
    text = text.strip("()")
    if formats.decimal_separator == ",":
        text = text.replace(".", "").replace("'", "").replace(",", ".")
    else:
        text = text.replace(",", "").replace("'", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise BadValue(f"{cell!r} is not a number") from None
    if not number.is_finite():
        raise BadValue(f"{cell!r} is not a number")
    return -number if negative else number


def as_date(cell: Cell, formats: Formats) -> date:
    """A calendar date: ISO 8601, the mapping's formats, or a month written out (3 Mar 2025).
    Day/month orders that could be either are refused unless the mapping names the format."""
    if type(cell) is str:
        known = formats._dates.get(cell)
        if known is None:
            known = _remember(formats._dates, cell, _text_date(cell.strip(), formats))
        return known
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    return _text_date(str(cell).strip(), formats)


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value
    return value


def _text_date(text: str, formats: Formats) -> date:
    if ISO_DATE.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise BadValue(f"{text!r} is not a real date") from None
    for pattern in formats.date_formats:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        pass
    for pattern in TEXT_MONTH_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    slashed = SLASHED.match(text)
    if slashed:
        first, second, year = (int(part) for part in slashed.groups())
        if first > 12 and second > 12:
            raise BadValue(f"{text!r} is not a real date")
        if first > 12 >= second:
            return _real_date(year, second, first, text)
        if second > 12 >= first:
            return _real_date(year, first, second, text)
        raise BadValue(
            f"ambiguous date {text!r} (day/month or month/day?): set date_formats in the "
            "mapping, e.g. %m/%d/%Y or %d/%m/%Y"
        )
    raise BadValue(f"{text!r} is not a date (expected e.g. 2025-03-31)")


def _real_date(year: int, month: int, day: int, text: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise BadValue(f"{text!r} is not a real date") from None


def as_datetime(cell: Cell, formats: Formats) -> datetime:
    """A moment in UTC. A date alone means its start in the mapping's timezone; a time without
    an offset is in that timezone too."""
    if type(cell) is str:
        known = formats._moments.get(cell)
        if known is None:
            known = _remember(formats._moments, cell, _moment(cell, formats))
        return known
    return _moment(cell, formats)


def _moment(cell: Cell, formats: Formats) -> datetime:
    if isinstance(cell, datetime):
        moment = cell
    elif isinstance(cell, date):
        moment = datetime.combine(cell, time())
    else:
        text = str(cell).strip()
        moment_or_none = _parse_datetime(text, formats)
        if moment_or_none is None:
            moment = datetime.combine(as_date(text, formats), time())
        else:
            moment = moment_or_none
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=formats.zone)
    return moment.astimezone(UTC)


def _parse_datetime(text: str, formats: Formats) -> datetime | None:
    if ISO_DATE.match(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    for pattern in formats.date_formats:
        if "%H" not in pattern and "%I" not in pattern:
            continue
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def as_bool(cell: Cell) -> bool:
    """Yes/no: true/false, yes/no, 1/0, x, on/off (any case)."""
    if isinstance(cell, bool):
        return cell
    if isinstance(cell, int | float) and cell in (0, 1):
        return bool(cell)
    text = str(cell).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadValue(f"{cell!r} is not yes or no")


def as_choice(cell: Cell, choices: type[E]) -> E:
    """One of an enumeration's values, matched ignoring case, spaces and dashes."""
    found = _choices(choices).get(_choice_key(str(cell)))
    if found is None:
        allowed = ", ".join(choice.value for choice in choices)
        raise BadValue(f"{cell!r} is not one of {allowed}")
    return found  # type: ignore[return-value]


@cache  # one entry per enumeration
def _choices(choices: type[StrEnum]) -> dict[str, StrEnum]:
    """An enumeration's members by the keys of their values and names; the first one wins."""
    index: dict[str, StrEnum] = {}
    for choice in choices:
        index.setdefault(_choice_key(choice.value), choice)
        index.setdefault(_choice_key(choice.name), choice)
    return index


def _choice_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.strip().casefold())


def as_country(cell: Cell) -> str:
    """An ISO 3166 two-letter country code (map country names to codes in the mapping)."""
    text = str(cell).strip()
    if not re.fullmatch(r"[A-Za-z]{2}", text):
        raise BadValue(
            f"{text!r} is not a two-letter country code (e.g. US); map names to codes in the "
            "mapping's map"
        )
    return text.upper()


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def as_email(cell: Cell) -> str:
    """An email address, lower-cased."""
    text = as_text(cell, max_length=320).lower()
    if not EMAIL.match(text):
        raise BadValue(f"{text!r} is not an email address")
    return text
