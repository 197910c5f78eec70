"""Error types shared by every domain; each carries the HTTP status it maps to."""

from __future__ import annotations

from typing import Any


class ToplineError(Exception):
    """Base of every expected error: a user mistake or a business rule, never a bug."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(ToplineError):
    """A value breaks a validation rule (negative amount, unknown role, …)."""

    status_code = 422
    code = "invalid_input"


class NotFound(ToplineError):
    """The record asked for does not exist (or is not visible to the viewer)."""

    status_code = 404
    code = "not_found"


class Conflict(ToplineError):
    """The request clashes with the record's current state (already closed, stale version)."""

    status_code = 409
    code = "conflict"


class StaleRecord(Conflict):
    """Someone else changed the record since the caller read it (its `version` moved on).

    The API puts the record as it now stands in `details.current`, so the client can merge.
    """

    code = "stale_record"
    entity = "record"


class MissingReference(Conflict):
    """A record the request's body names does not exist or is not visible to the caller.

    409, not 404: the request itself (its URL) was found and is well-formed; the data it
    points at is not there. A 404 would read as "the record at this URL is gone".
    """

    code = "reference_not_found"


class PermissionDenied(ToplineError):
    """The viewer may not do this."""

    status_code = 403
    code = "permission_denied"


class NotAuthenticated(ToplineError):
    """No valid credentials were presented."""

    status_code = 401
    code = "not_authenticated"
