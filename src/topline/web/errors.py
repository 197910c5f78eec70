"""One place that turns errors into responses: JSON under /api, an HTML page elsewhere.

JSON errors have the shape `{"error": {"code", "message", "details"}}`. A page request that
needs a signed-in user is redirected to the sign-in form instead of getting a 401 page.
"""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from topline.auth.errors import TooManyLoginAttempts
from topline.errors import NotAuthenticated, ToplineError
from topline.web.templating import templates

API_PREFIX = "/api"

# Headings of the error page, in plain words; other statuses use the HTTP reason phrase.
PAGE_TITLES = {
    400: "Bad request",
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Page not found",
    409: "Conflict",
    422: "Please check your input",
    429: "Too many attempts",
    500: "Something went wrong",
}


class LoginRequired(NotAuthenticated):
    """The page or endpoint needs a signed-in user and there is none."""

    code = "login_required"


def is_api_request(request: Request) -> bool:
    """True for the JSON API, whose clients expect JSON errors rather than pages."""
    path = request.url.path
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def error_response(
    request: Request,
    *,
    status_code: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The error as JSON for the API, or as the error page for people."""
    if is_api_request(request):
        body = {"error": {"code": code, "message": message, "details": details or {}}}
        return JSONResponse(body, status_code=status_code, headers=headers)
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "status_code": status_code,
            "title": _title(status_code),
            "message": message,
            "code": code,
        },
        status_code=status_code,
        headers=headers,
    )


def _title(status_code: int) -> str:
    return PAGE_TITLES.get(status_code) or _reason(status_code)


def _reason(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def _login_redirect(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    location = "/login?" + urlencode({"next": target})
    if request.headers.get("HX-Request") == "true":
        # htmx swaps redirected HTML into the page; ask it to navigate instead.
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


async def handle_topline_error(request: Request, exc: Exception) -> Response:
    """Expected errors: a business rule, bad input, missing record, no permission."""
    assert isinstance(exc, ToplineError)
    if isinstance(exc, LoginRequired) and not is_api_request(request):
        return _login_redirect(request)
    headers: dict[str, str] = {}
    if exc.status_code == 401 and is_api_request(request):
        headers["WWW-Authenticate"] = 'Bearer realm="topline"'
    if isinstance(exc, TooManyLoginAttempts):
        retry_after = exc.details.get("retry_after_seconds")
        if isinstance(retry_after, int | float):
            headers["Retry-After"] = str(max(math.ceil(retry_after), 1))
    return error_response(
        request,
        status_code=exc.status_code,
        code=exc.code,
        message=exc.message,
        details=exc.details,
        headers=headers or None,
    )


async def handle_http_error(request: Request, exc: Exception) -> Response:
    """Routing errors from the framework: unknown path, wrong method."""
    assert isinstance(exc, StarletteHTTPException)
    messages = {
        404: "There is no page at this address.",
        405: "This address does not accept that kind of request.",
    }
    message = messages.get(exc.status_code, str(exc.detail))
    code = _reason(exc.status_code).lower().replace(" ", "_")
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return error_response(
        request,
        status_code=exc.status_code,
        code=code,
        message=message,
        headers=headers or None,
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts at this path.

    Starlette's own 405 names only the first route that matched the path, which is wrong when
    several routes share it (GET and POST on a list, say).
    """
    methods: set[str] = set()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.routes):
            methods.add(method)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    """A request whose parameters or form fields do not parse."""
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"location": list(error.get("loc", ())), "message": error.get("msg", "")}
        for error in exc.errors()
    ]
    return error_response(
        request,
        status_code=422,
        code="invalid_input",
        message="Some fields are missing or invalid.",
        details={"fields": fields},
    )


async def handle_unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug: show a plain apology, never the internals.

    Starlette re-raises the exception after this response, so the server logs the traceback.
    """
    return error_response(
        request,
        status_code=500,
        code="internal_error",
        message="Something went wrong on our side. The error has been logged.",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on `app`."""
    app.add_exception_handler(ToplineError, handle_topline_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(Exception, handle_unexpected_error)
