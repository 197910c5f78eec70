"""Errors of the scoring domain."""

from __future__ import annotations

from topline.errors import Conflict, InvalidInput


class InvalidDataset(InvalidInput):
    """A data set cannot be trained or evaluated on: unreadable, wrong columns, too few rows."""

    code = "invalid_dataset"


class NoCustomersYet(Conflict):
    """No account has won revenue yet, so there is no ideal customer to compare accounts to."""

    code = "no_customers_yet"
