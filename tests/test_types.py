"""The shared value types: what each accepts, refuses, and says in the JSON schema."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from topline.types import (
    MAX_ID,
    Cents,
    Id,
    IsoDate,
    IsoDateTime,
    MonthPeriod,
    Name,
    NonBlank,
    Omitted,
    RefusesHiddenNulls,
    Text,
)


class TestWholeNumbers:
    @pytest.mark.parametrize(("raw", "expected"), [(3, 3), (3.0, 3), (0.0, 0), (-0.0, 0)])
    def test_an_integral_json_number_is_an_integer(self, raw: object, expected: int) -> None:
        # JSON Schema calls 3.0 an integer, so a client may send it and mean 3.
        assert TypeAdapter(Cents).validate_json(str(raw)) == expected

    @pytest.mark.parametrize("raw", ['"3"', "3.5", "true", "1e300", "-1", "NaN"])
    def test_text_fractions_flags_and_out_of_range_numbers_are_refused(self, raw: str) -> None:
        with pytest.raises(ValidationError):
            TypeAdapter(Cents).validate_json(raw)

    def test_ids_start_at_one_and_stop_where_json_numbers_stay_exact(self) -> None:
        ids = TypeAdapter(Id)
        assert ids.validate_json(str(float(MAX_ID - 1))) == MAX_ID - 1
        for raw in ("0", str(MAX_ID + 1)):
            with pytest.raises(ValidationError):
                ids.validate_json(raw)


class TestText:
    @pytest.mark.parametrize(("kind", "value"), [(Text, "a\x00b"), (NonBlank, "\x00x")])
    def test_nul_is_refused_in_words(self, kind: Any, value: str) -> None:
        with pytest.raises(ValidationError, match="must not contain NUL characters"):
            TypeAdapter(kind).validate_python(value)

    @pytest.mark.parametrize("value", ["", " ", "\t\n", "\u3000", "\x1c\x85\xa0"])
    def test_a_name_needs_a_visible_character(self, value: str) -> None:
        with pytest.raises(ValidationError):
            TypeAdapter(Name).validate_python(value)

    @pytest.mark.parametrize("value", ["x", " x ", "\u3000x", "\ufeff", "O'Brien & Co."])
    def test_names_with_a_visible_character_pass(self, value: str) -> None:
        assert TypeAdapter(Name).validate_python(value) == value

    @pytest.mark.parametrize(
        ("kind", "value"),
        [(Text, ""), (Text, "a\nb"), (Text, "a\x00"), (Name, " x "), (Name, " "),
         (Name, "\x00x"), (Name, "\u2003"), (Name, "\ufeff")],
    )  # fmt: skip
    def test_the_schema_pattern_agrees_with_validation(self, kind: Any, value: str) -> None:
        # What the OpenAPI schema promises is what the API accepts, for any regex engine:
        # the patterns use no `\s`, whose meaning differs between ECMA, Rust and Python.
        pattern = TypeAdapter(kind).json_schema()["pattern"]
        try:
            TypeAdapter(kind).validate_python(value)
            accepted = True
        except ValidationError:
            accepted = False
        assert bool(re.search(pattern, value)) == accepted


class TestIsoDates:
    def test_a_date_is_iso_text(self) -> None:
        assert TypeAdapter(IsoDate).validate_json('"2025-01-31"') == date(2025, 1, 31)

    @pytest.mark.parametrize("raw", ["0", "1738281600", '"31.01.2025"', '"2025-1-31"'])
    def test_a_number_or_other_text_is_not_a_date(self, raw: str) -> None:
        with pytest.raises(ValidationError, match="ISO date"):
            TypeAdapter(IsoDate).validate_json(raw)

    @pytest.mark.parametrize("raw", ["0", "1738281600.5", '"2025-01-31T09:00:00"'])
    def test_a_moment_is_iso_text_with_a_timezone(self, raw: str) -> None:
        with pytest.raises(ValidationError):
            TypeAdapter(IsoDateTime).validate_json(raw)


class Period(MonthPeriod):
    pass


class TestMonthPeriod:
    @pytest.mark.parametrize(
        ("start", "months", "end"),
        [
            ("2025-01", 3, date(2025, 4, 1)),
            ("2025-11", 3, date(2026, 2, 1)),
            ("2025-12", 1, date(2026, 1, 1)),
            ("2025-02", 12, date(2026, 2, 1)),
            ("2999-12", 12, date(3000, 12, 1)),
        ],
    )
    def test_a_period_runs_whole_months_from_the_first(
        self, start: str, months: int, end: date
    ) -> None:
        period = Period.model_validate({"start_month": start, "months": months})

        assert (period.period_start, period.period_end) == (date.fromisoformat(start + "-01"), end)

    @pytest.mark.parametrize(
        "body",
        [
            {"start_month": "2025-13", "months": 3},
            {"start_month": "2025-00", "months": 3},
            {"start_month": "2025-1", "months": 3},
            {"start_month": "2025-01-01", "months": 3},
            {"start_month": "0999-01", "months": 3},
            {"start_month": 202501, "months": 3},
            {"start_month": "2025-01", "months": 0},
            {"start_month": "2025-01", "months": 13},
            {"start_month": "2025-01", "months": "3"},
        ],
    )
    def test_periods_that_are_not_whole_months_are_refused(self, body: dict[str, Any]) -> None:
        with pytest.raises(ValidationError):
            Period.model_validate(body)

    def test_the_schema_says_month_and_length(self) -> None:
        class Body(BaseModel):
            period: Period

        schema = Body.model_json_schema()["$defs"]["Period"]["properties"]
        assert schema["start_month"]["pattern"] == r"^[12][0-9]{3}-(0[1-9]|1[0-2])$"
        assert (schema["months"]["minimum"], schema["months"]["maximum"]) == (1, 12)


class Edit(RefusesHiddenNulls):
    name: Name | Omitted = None
    note: Text | None = None


class TestHiddenNulls:
    def test_a_field_left_out_keeps_its_value(self) -> None:
        edit = Edit.model_validate({})

        assert (edit.name, edit.model_fields_set) == (None, set())

    def test_an_explicit_null_is_refused_where_the_schema_offers_none(self) -> None:
        with pytest.raises(ValidationError) as refused:
            Edit.model_validate({"name": None})

        (error,) = refused.value.errors()
        assert error["type"] == "null_not_allowed"
        assert error["msg"].startswith("name must not be null")

    def test_a_field_the_schema_lets_clear_takes_null(self) -> None:
        assert Edit.model_validate({"note": None, "name": "Acme"}).name == "Acme"

    def test_the_schema_offers_no_null_for_the_hidden_one(self) -> None:
        properties = Edit.model_json_schema()["properties"]

        assert "anyOf" not in properties["name"]
        assert {"type": "null"} in properties["note"]["anyOf"]
