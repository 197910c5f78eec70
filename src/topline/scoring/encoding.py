"""How a frame of record fields becomes the number matrix the scorers learn from.

Pure: pandas and numpy only. Every table here (category vocabularies, value frequencies) is
learned from the training rows' fields alone, never from their outcomes, so a scorer can
build the same columns for a record it has never seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# A whole-number column with at least this many distinct values is treated as an amount-like
# quantity whose roundness means something; fewer distinct values look like a coded band
# (client size 1–5) where trailing zeros mean nothing.
ROUNDNESS_MIN_DISTINCT = 20


def infer_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Split the columns into categorical (text, categories) and numeric (numbers, booleans)."""
    categorical: list[str] = []
    numeric: list[str] = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column.dtype):
            numeric.append(str(name))
        else:
            categorical.append(str(name))
    return categorical, numeric


def as_text(column: pd.Series) -> pd.Series:
    """Category values as stripped text, so `1`, `"1"` and `" 1 "` are one value.

    Blank text counts as missing, because a CSV's empty cell and a space mean the same.
    """
    # Each distinct value is made text once: a column holds few distinct categories and many
    # rows (scoring 100k deals spent a tenth of its time here when every cell was converted).
    codes, distinct = pd.factorize(column)
    text = pd.Series(distinct, dtype=column.dtype).astype(str).str.strip()
    cleaned = np.append(text.to_numpy(dtype=object), np.nan)
    cleaned[cleaned == ""] = np.nan
    # Missing cells have code -1: the last entry.
    return pd.Series(cleaned[codes], index=column.index, dtype=object)


def as_numbers(column: pd.Series) -> np.ndarray:
    """A numeric column as floats; anything that is not a number becomes missing."""
    return np.asarray(pd.to_numeric(column, errors="coerce"), dtype=np.float64)


def trailing_zeros(values: np.ndarray) -> np.ndarray:
    """How many trailing zeros each whole number has (250,000 → 4); missing for zero.

    A quoted amount (48,730) tends to come from a real price calculation, a round one
    (50,000) from a first guess, and sales data sets show the two win at different rates.
    """
    result = np.full(values.shape, np.nan)
    whole = np.isfinite(values) & (values != 0) & (np.mod(values, 1) == 0)
    magnitude = np.abs(values[whole])
    zeros = np.zeros(magnitude.shape)
    for power in range(1, 16):
        divisible = np.mod(magnitude, 10.0**power) == 0
        if not divisible.any():
            break
        zeros += divisible
    result[whole] = zeros
    return result


@dataclass
class TabularEncoding:
    """The learned translation from a frame of fields to the model's feature matrix.

    Each input column gives one model feature: numbers as they are, categories as codes into a
    vocabulary learned at fit (a value outside it is missing, never an error). With `derived`,
    each column also gives the share of training rows that hold the same value (rare values
    behave differently from common ones) and amount-like whole-number columns give their
    roundness. Every model feature remembers its input column, so contributions and
    importances can be added back up per field a person recognises.
    """

    derived: bool = True
    columns: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    vocabularies: dict[str, list[str]] = field(default_factory=dict)
    frequencies: dict[str, pd.Series] = field(default_factory=dict)
    rounded: list[str] = field(default_factory=list)
    n_rows: int = 0
    feature_names: list[str] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)

    def fit(self, frame: pd.DataFrame) -> TabularEncoding:
        """Learn vocabularies, value frequencies and which columns are amount-like."""
        self.columns = [str(name) for name in frame.columns]
        self.categorical, numeric = infer_columns(frame)
        self.n_rows = len(frame)
        self.vocabularies = {
            name: sorted(as_text(frame[name]).dropna().unique().tolist())
            for name in self.categorical
        }
        self.frequencies = {}
        self.rounded = []
        if self.derived:
            for name in self.columns:
                self.frequencies[name] = self._values(frame, name).value_counts(dropna=False)
            for name in numeric:
                values = as_numbers(frame[name])
                finite = values[np.isfinite(values)]
                whole = finite.size > 0 and bool(np.all(np.mod(finite, 1) == 0))
                if whole and np.unique(finite).size >= ROUNDNESS_MIN_DISTINCT:
                    self.rounded.append(name)
        self.feature_names = list(self.columns)
        self.sources = list(range(len(self.columns)))
        for name in self.frequencies:
            self.feature_names.append(f"{name} (frequency)")
            self.sources.append(self.columns.index(name))
        for name in self.rounded:
            self.feature_names.append(f"{name} (roundness)")
            self.sources.append(self.columns.index(name))
        return self

    @property
    def categorical_indices(self) -> list[int]:
        """Positions of the category-coded features in the matrix."""
        return [self.columns.index(name) for name in self.categorical]

    def transform(self, frame: pd.DataFrame, *, leave_one_out: bool = False) -> np.ndarray:
        """The feature matrix for `frame` (rows × `feature_names`).

        Args:
            leave_one_out: the frame is the training frame itself; each row's value frequency
                then leaves the row out, so a training row looks like a new record would
                (a value seen once in training has frequency 0, as an unseen value has).
        """
        missing = [name for name in self.columns if name not in frame.columns]
        if missing:
            raise ValueError(f"missing columns: {', '.join(missing)}")
        blocks: list[np.ndarray] = []
        for name in self.columns:
            if name in self.vocabularies:
                codes = pd.Categorical(as_text(frame[name]), categories=self.vocabularies[name])
                block = np.asarray(codes.codes, dtype=np.float64)
                block[block < 0] = np.nan
            else:
                block = as_numbers(frame[name])
            blocks.append(block)
        denominator = max(self.n_rows - 1 if leave_one_out else self.n_rows, 1)
        for name, counts in self.frequencies.items():
            seen = np.asarray(self._values(frame, name).map(counts), dtype=np.float64)
            seen = np.nan_to_num(seen, nan=0.0)
            if leave_one_out:
                seen = np.maximum(seen - 1, 0)
            blocks.append(seen / denominator)
        blocks.extend(trailing_zeros(as_numbers(frame[name])) for name in self.rounded)
        return np.column_stack(blocks) if blocks else np.empty((len(frame), 0))

    def by_column(self, values: np.ndarray) -> np.ndarray:
        """Add up per-feature values (contributions, gains) into one per input column."""
        totals = np.zeros((*values.shape[:-1], len(self.columns)))
        for position, source in enumerate(self.sources):
            totals[..., source] += values[..., position]
        return totals

    def _values(self, frame: pd.DataFrame, name: str) -> pd.Series:
        if name in self.vocabularies:
            return as_text(frame[name])
        return pd.Series(as_numbers(frame[name]), index=frame.index)


def require_frame(data: object, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The scorers take a DataFrame (column names carry meaning); anything else is a bug."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(data).__name__}")
    if columns is not None:
        missing = [name for name in columns if name not in data.columns]
        if missing:
            raise ValueError(f"missing columns: {', '.join(missing)}")
    return data
