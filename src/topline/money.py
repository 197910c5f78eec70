"""Money is integer minor units (cents); one check guards every amount coming in."""

from __future__ import annotations

from topline.errors import InvalidInput


def require_cents(value: object, what: str, *, error: type[InvalidInput] = InvalidInput) -> int:
    """`value` as a non-negative whole number of cents, or `error` naming `what` is wrong."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{what} must be a whole number of cents, got {value!r}")
    if value < 0:
        raise error(f"{what} must not be negative, got {value}")
    return value
