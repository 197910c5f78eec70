"""Which of a report's rows to hand back: a page of them (`RowPage`), from an offset.

A report's summary always covers the whole scope; only its rows are paged. Slippage (deals)
and concentration (accounts) make row models for the page only: on 1M deals their lists run
to tens of thousands of rows, and making and sending them was most of the report's time. The
others, MRR by account among them, slice the rows they made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from topline.errors import InvalidInput

T = TypeVar("T")
M = TypeVar("M")

# The API's page when none is asked for, and the most rows one answer holds: enough for any
# report whose rows are stages, reps or months, a first page of the long lists.
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
MAX_OFFSET = 100_000_000


@dataclass(frozen=True)
class RowPage:
    """The rows from `offset` (0 is the first), at most `limit` of them (None: all)."""

    offset: int = 0
    limit: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.offset <= MAX_OFFSET:
            raise InvalidInput(f"offset {self.offset}: use 0 to {MAX_OFFSET}")
        if self.limit is not None and not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidInput(f"limit {self.limit}: use 1 to {MAX_LIMIT}")

    def take(self, items: Sequence[T]) -> Sequence[T]:
        end = None if self.limit is None else self.offset + self.limit
        return items[self.offset : end]

    def report_rows(
        self, items: Sequence[T], make: Callable[[T], M] | None = None
    ) -> dict[str, Any]:
        """The `rows`, `total_rows` and `offset` of a report (`Report`) over `items`, in
        order: `make` turns each item of the page (and only those) into its row."""
        taken = self.take(items)
        rows = list(taken) if make is None else [make(item) for item in taken]
        return {"rows": rows, "total_rows": len(items), "offset": self.offset}


ALL_ROWS = RowPage()
