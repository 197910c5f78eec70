"""Validated value types shared by every schema: text, whole numbers, ids, dates and months.

Each type says in the OpenAPI schema what it accepts, so a request the schema calls valid is
never refused for its shape: only for the state of the data (404, 409) or permissions (403).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

# Both databases store 64-bit integers, but JSON numbers are exact only up to 2**53 (a larger
# bound shows in the OpenAPI schema as a rounded float); no id or amount comes near either.
MAX_ID = 2**53 - 1
# Head counts and durations are 32-bit integer columns.
MAX_COUNT = 2**31 - 1

# The characters `str.strip()` removes, spelled out so that a pattern means the same to every
# regex engine (ECMA's, Rust's and Python's `\s` each differ) as the services' `strip()` does.
BLANKS = "\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# PostgreSQL text cannot hold NUL characters; the patterns refuse them at the door.
NO_NUL_PATTERN = r"^[^\x00]*$"
VISIBLE_PATTERN = rf"^[^\x00]*[^\x00{BLANKS}][^\x00]*$"


def _no_nul(value: object) -> object:
    # Runs before the pattern so that the message says what is wrong in words.
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


def _visible(value: object) -> object:
    _no_nul(value)
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be blank")
    return value


def _whole_number(value: object) -> object:
    # JSON has one kind of number: to JSON Schema 3.0 is the integer 3, so it is taken as one.
    # 3.5, "3" and true are still refused by the strict integer behind this.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = BeforeValidator(_whole_number)
"""Marks a strict `int` that also takes integral JSON numbers written with a fraction (`3.0`)."""

# A field has one pattern: a `Text` field given a pattern of its own would lose this one, so
# such a field is a plain `str` whose pattern refuses NUL too (see `auth.schemas.EMAIL_PATTERN`).
Text = Annotated[str, Field(pattern=NO_NUL_PATTERN), BeforeValidator(_no_nul)]
# Text with at least one visible character, the rule the services check with `strip()`.
NonBlank = Annotated[str, Field(min_length=1, pattern=VISIBLE_PATTERN), BeforeValidator(_visible)]
Name = Annotated[NonBlank, Field(max_length=300)]
Cents = Annotated[int, Field(ge=0, le=MAX_ID, strict=True), WholeNumber]
Id = Annotated[int, Field(ge=1, le=MAX_ID, strict=True), WholeNumber]
Version = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_ID,
        strict=True,
        description="The record's `version` as read; a stale one is refused with 409.",
    ),
    WholeNumber,
]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT, strict=True), WholeNumber]
Minutes = Annotated[Count, Field(description="Whole minutes.")]
Flag = Annotated[bool, Field(strict=True)]

# Calendar dates and moments as JSON carries them: ISO 8601 text. Pydantic alone would also
# read a number as a Unix time (0 as 1970-01-01), which no caller means.
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_ISO_DATETIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _iso_date(value: object) -> object:
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError("use an ISO date, e.g. 2025-01-31")


def _iso_datetime(value: object) -> object:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATETIME.match(value)):
        return value
    raise ValueError("use an ISO date and time with a timezone, e.g. 2025-01-31T09:00:00Z")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_datetime)]

# Years 1000 to 2999: a period a dozen months long never runs past the last date Python has.
MONTH_PATTERN = r"^[12][0-9]{3}-(0[1-9]|1[0-2])$"


def _first_day_of_month(value: object) -> object:
    if isinstance(value, date) and value.day == 1:
        return value
    if isinstance(value, str) and re.match(MONTH_PATTERN, value):
        return date(int(value[:4]), int(value[5:7]), 1)
    raise ValueError("use a month as YYYY-MM, e.g. 2025-07")


Month = Annotated[
    date,
    BeforeValidator(_first_day_of_month),
    WithJsonSchema({"type": "string", "pattern": MONTH_PATTERN, "examples": ["2025-07"]}),
]
"""A calendar month written `YYYY-MM`, validated into the date of its first day."""


class MonthPeriod(BaseModel):
    """A period of whole calendar months, as quotas and forecast calls are set for.

    Given as its first month and its length, so a period that ends before it starts cannot be
    written. Topline's fiscal calendar is month-based (a fiscal year starts on the first of a
    month), so fiscal quarters, halves and years are all periods of this shape.
    """

    start_month: Month = Field(description="The first month of the period, e.g. `2025-07`.")
    months: Annotated[int, Field(ge=1, le=12, strict=True), WholeNumber] = Field(
        description="How many months it lasts: 1 for a month, 3 for a quarter, 12 for a year."
    )

    @property
    def period_start(self) -> date:
        """The first day of the period."""
        return self.start_month

    @property
    def period_end(self) -> date:
        """The first day after the period (periods are stored as `[start, end)`)."""
        month_index = self.start_month.month - 1 + self.months
        return date(self.start_month.year + month_index // 12, month_index % 12 + 1, 1)


def _hides_null(annotation: object) -> bool:
    """Whether a field's type takes None but keeps it out of the schema (`X | Omitted`)."""
    if get_origin(annotation) not in (Union, type(int | None)):
        return False
    return any(
        get_origin(arg) is Annotated
        and get_args(arg)[0] is type(None)
        and any(type(mark) is _SKIP_MARK for mark in arg.__metadata__)
        for arg in get_args(annotation)
    )


Omitted = SkipJsonSchema[None]
"""Marks an edit field that may be left out but not cleared: `name: Name | Omitted = None`.

The schema offers no null for it, and `RefusesHiddenNulls` refuses an explicit null, so the
request the schema calls invalid is refused too instead of being read as "no change".
"""
# The class of the mark `Omitted` carries (mypy sees `SkipJsonSchema` as an alias, not a class).
_SKIP_MARK = type(get_args(Omitted)[1])


class RefusesHiddenNulls(BaseModel):
    """Refuses an explicit null for every field typed `X | Omitted`.

    Leaving such a field out still means "keep the value". (A model validator rather than a
    field validator for "*": pydantic allows no "before" validator on a discriminator field.)
    """

    @model_validator(mode="before")
    @classmethod
    def _refuse_hidden_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(
                name for name in _hidden_null_fields(cls) if name in data and data[name] is None
            )
            if nulls:
                raise PydanticCustomError(
                    "null_not_allowed",
                    "{fields} must not be null: leave a field out to keep its value",
                    {"fields": ", ".join(nulls)},
                )
        return data


_HIDDEN_NULL_FIELDS: dict[type[BaseModel], frozenset[str]] = {}


def _hidden_null_fields(cls: type[BaseModel]) -> frozenset[str]:
    fields = _HIDDEN_NULL_FIELDS.get(cls)
    if fields is None:
        fields = frozenset(
            name for name, field in cls.model_fields.items() if _hides_null(field.annotation)
        )
        _HIDDEN_NULL_FIELDS[cls] = fields
    return fields
