"""Errors of the auth domain."""

from __future__ import annotations

from topline.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, StaleRecord


class UserNotFound(NotFound):
    """No user with that id or email."""


class TeamNotFound(NotFound):
    """No team with that id."""


class StaleUser(StaleRecord):
    """Someone else changed the person since they were read."""

    code = "stale_user"
    entity = "user"


class StaleTeam(StaleRecord):
    """Someone else changed the team since it was read."""

    code = "stale_team"
    entity = "team"


class EmailTaken(Conflict):
    """Another user already signs in with that email."""


class InvalidUser(InvalidInput):
    """A user field breaks a rule (bad email, short password …)."""


class InvalidReportingLine(Conflict):
    """The change would break the org chart as it stands.

    Someone would report to themself or to someone below them, a team would sit under itself,
    or a manager or team leader would not be an active manager or admin.
    """


class InvalidCredentials(NotAuthenticated):
    """Email and password do not match an active user."""


class TooManyLoginAttempts(NotAuthenticated):
    """Login is locked for a while after repeated failures."""

    status_code = 429
    code = "too_many_attempts"
