"""Errors of the scoring domain."""

from __future__ import annotations

from topline.errors import InvalidInput


class InvalidDataset(InvalidInput):
    """A data set cannot be trained or evaluated on: unreadable, wrong columns, too few rows."""

    code = "invalid_dataset"
