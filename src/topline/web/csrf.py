"""Cross-site request forgery protection for the cookie-authenticated pages.

Each browser session holds one random token. Every form renders it in a hidden field and htmx
sends it as a header (see `base.html`); every unsafe request must present it.
"""

from __future__ import annotations

import secrets

from fastapi import Request

from topline.errors import PermissionDenied

SESSION_KEY = "csrf"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class CsrfFailed(PermissionDenied):
    """A form arrived without the token of the session that rendered it."""

    code = "csrf_failed"


def csrf_token(request: Request) -> str:
    """The session's token, created on first use."""
    token = request.session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = token
    return token


def rotate_csrf_token(request: Request) -> str:
    """Give the session a new token (after sign-in, so a token seen before it is useless)."""
    token = secrets.token_urlsafe(32)
    request.session[SESSION_KEY] = token
    return token


async def verify_csrf(request: Request) -> None:
    """Refuse an unsafe request whose token does not match the session's."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get(SESSION_KEY)
    presented: object = request.headers.get(HEADER)
    if presented is None:
        presented = (await request.form()).get(FORM_FIELD)
    if (
        not isinstance(expected, str)
        or not expected
        or not isinstance(presented, str)
        or not secrets.compare_digest(expected.encode(), presented.encode())
    ):
        raise CsrfFailed(
            "This form has expired or did not come from Topline. Reload the page and try again."
        )
