"""The scorer's input: column kinds, category text, value frequencies and amount roundness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from topline.scoring.encoding import TabularEncoding, as_text, infer_columns, trailing_zeros


def test_columns_split_into_categorical_and_numeric() -> None:
    frame = pd.DataFrame(
        {"region": ["North"], "amount": [1.5], "band": [3], "flag": [True], "kind": ["a"]}
    )
    assert infer_columns(frame) == (["region", "kind"], ["amount", "band", "flag"])


def test_category_text_is_stripped_and_blank_is_missing() -> None:
    text = as_text(pd.Series([" web ", "", None, 1, "1"], dtype=object))
    assert text[0] == "web"
    assert text.isna().tolist() == [False, True, True, False, False]
    assert text[3] == text[4] == "1"


def test_category_text_is_each_cell_made_text_keeping_the_index() -> None:
    # Made text once per distinct value: every cell still gets its own value's text.
    column = pd.Series([" a", 2.5, np.nan, "a ", 7, pd.NA, " ", "b"] * 3, index=range(100, 124))
    expected = [None if pd.isna(v) or not str(v).strip() else str(v).strip() for v in column]
    text = as_text(column)
    assert text.index.tolist() == column.index.tolist()
    assert text.where(text.notna(), None).tolist() == expected
    assert as_text(pd.Series([], dtype=object)).empty


@pytest.mark.parametrize(
    ("value", "zeros"),
    [(250_000, 4), (48_730, 1), (7, 0), (-3_000, 3), (1_000_000, 6), (0, None), (12.5, None)],
)
def test_trailing_zeros_measure_how_round_an_amount_is(value: float, zeros: int | None) -> None:
    result = trailing_zeros(np.array([value], dtype=np.float64))[0]
    if zeros is None:
        assert np.isnan(result)
    else:
        assert result == zeros


class TestTabularEncoding:
    FRAME = pd.DataFrame(
        {
            "region": ["North", "North", "South", None],
            "amount": [100.0, 100.0, 250.0, np.nan],
        }
    )

    def test_categories_become_codes_and_unknown_values_missing(self) -> None:
        encoding = TabularEncoding(derived=False).fit(self.FRAME)
        assert encoding.vocabularies == {"region": ["North", "South"]}
        matrix = encoding.transform(pd.DataFrame({"region": ["South", "Atlantis"],
                                                  "amount": [1.0, 2.0]}))  # fmt: skip
        assert matrix[0, 0] == 1
        assert np.isnan(matrix[1, 0])

    def test_frequencies_leave_the_row_out_when_it_is_a_training_row(self) -> None:
        encoding = TabularEncoding().fit(self.FRAME)
        assert encoding.feature_names == ["region", "amount", "region (frequency)",
                                          "amount (frequency)"]  # fmt: skip
        own = encoding.transform(self.FRAME, leave_one_out=True)
        # "North" is held by two of four rows: each sees the other one among the other three.
        assert own[0, 2] == pytest.approx(1 / 3)
        # "South" appears once: no other row holds it, as for a value never seen.
        assert own[2, 2] == 0
        new = encoding.transform(pd.DataFrame({"region": ["North", "Atlantis"],
                                               "amount": [100.0, 5.0]}))  # fmt: skip
        assert new[:, 2].tolist() == [0.5, 0.0]
        assert new[:, 3].tolist() == [0.5, 0.0]

    def test_only_amount_like_whole_numbers_get_a_roundness_column(self) -> None:
        frame = pd.DataFrame(
            {
                "amount": np.arange(1, 41) * 1_000,
                "band": np.arange(40) % 5,
                "ratio": np.linspace(0, 1, 40),
            }
        )
        encoding = TabularEncoding().fit(frame)
        assert encoding.rounded == ["amount"]
        assert encoding.sources[-1] == 0

    def test_values_add_up_per_input_column(self) -> None:
        encoding = TabularEncoding().fit(self.FRAME)
        totals = encoding.by_column(np.array([[1.0, 2.0, 10.0, 20.0]]))
        assert totals.tolist() == [[11.0, 22.0]]
