"""Who is signed in: the user id kept in the signed session cookie."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request

from topline.auth.models import User
from topline.clock import utcnow
from topline.web.csrf import rotate_csrf_token

USER_ID_KEY = "user_id"
SIGNED_IN_AT_KEY = "signed_in_at"
HOME_PATH = "/pipeline"


def signed_in_user_id(request: Request) -> int | None:
    """The id of the user this browser signed in as, unless the session has expired.

    A session lasts `session_hours` from signing in, whatever the activity since: the cookie's
    own max-age says the same to the browser, and this check holds even if a client keeps an
    old cookie.
    """
    user_id = request.session.get(USER_ID_KEY)
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return None
    signed_in_at = request.session.get(SIGNED_IN_AT_KEY)
    hours: int = request.app.state.settings.session_hours
    if not isinstance(signed_in_at, int | float) or isinstance(signed_in_at, bool):
        return None
    if utcnow().timestamp() - signed_in_at >= hours * 3600:
        request.session.clear()
        return None
    return user_id


def sign_in(request: Request, user: User) -> None:
    """Start a fresh session for `user`; nothing from the anonymous session carries over."""
    request.session.clear()
    request.session[USER_ID_KEY] = user.id
    request.session[SIGNED_IN_AT_KEY] = utcnow().timestamp()
    rotate_csrf_token(request)


def sign_out(request: Request) -> None:
    """End the session; the browser's cookie is cleared on the response."""
    request.session.clear()


def safe_next_path(candidate: str | None) -> str:
    """Where to go after signing in: `candidate` if it is a path on this site, else home.

    Absolute URLs, scheme-relative `//host` and backslash tricks (`/\\host`, which browsers
    read as `//host`) are refused, so a crafted sign-in link cannot send people elsewhere.
    """
    if not candidate or not candidate.startswith("/") or candidate.startswith("//"):
        return HOME_PATH
    if "\\" in candidate or any(ord(char) < 0x20 or ord(char) == 0x7F for char in candidate):
        return HOME_PATH
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return HOME_PATH
    return candidate
