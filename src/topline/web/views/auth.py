"""Signing in and out of the pages."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from topline.auth.errors import InvalidCredentials, TooManyLoginAttempts
from topline.auth.service import authenticate, normalize_email
from topline.web.deps import DbSession, SettingsDep
from topline.web.ratelimit import Lockout, login_throttle
from topline.web.routing import TransactionRoute
from topline.web.sessions import HOME_PATH, safe_next_path, sign_in, sign_out, signed_in_user_id
from topline.web.templating import templates

router = APIRouter(route_class=TransactionRoute)

WRONG_CREDENTIALS = "Wrong email or password."


def _login_form(
    request: Request, *, next_path: str, email: str = "", error: str | None = None, status: int
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "auth/login.html",
        {"next_path": next_path, "email": email, "error": error},
        status_code=status,
    )


@router.get("/", include_in_schema=False)
def home_page() -> RedirectResponse:
    """The pipeline is the home page."""
    return RedirectResponse(HOME_PATH, status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form; a signed-in visitor goes straight on to `next`."""
    next_path = safe_next_path(next)
    if signed_in_user_id(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return _login_form(request, next_path=next_path, status=200)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    """Sign in with email and password, then continue to `next` (a local path only).

    Attempts are limited per account and per client address; past either limit even the
    right password is refused, with a message saying when to try again.
    """
    next_path = safe_next_path(next)
    if not email.strip() or not password:
        return _login_form(
            request,
            next_path=next_path,
            email=email,
            error="Enter your email and password.",
            status=422,
        )
    throttle = login_throttle(request.app.state, settings)
    account = normalize_email(email)
    lockout = throttle.attempt(
        email=account, address=request.client.host if request.client else "unknown"
    )
    if lockout is not None:
        raise _too_many_attempts(lockout)
    try:
        user = authenticate(session, email=email, password=password)
    except InvalidCredentials:
        return _login_form(
            request, next_path=next_path, email=email, error=WRONG_CREDENTIALS, status=401
        )
    throttle.succeeded(email=account)
    sign_in(request, user)
    return RedirectResponse(next_path, status_code=303)


def _too_many_attempts(lockout: Lockout) -> TooManyLoginAttempts:
    wait = max(math.ceil(lockout.retry_after_seconds), 1)
    whose = "this account" if lockout.scope == "account" else "your network address"
    return TooManyLoginAttempts(
        f"Too many sign-in attempts for {whose}. "
        f"Try again in {wait} second{'' if wait == 1 else 's'}.",
        details={"retry_after_seconds": wait, "limit": lockout.scope},
    )


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    """End the session and return to the sign-in form."""
    sign_out(request)
    return RedirectResponse("/login", status_code=303)
