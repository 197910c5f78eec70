"""Roles of Topline users."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a user may see: admin everything, manager their reporting subtree, rep their own."""

    ADMIN = "admin"
    MANAGER = "manager"
    REP = "rep"
