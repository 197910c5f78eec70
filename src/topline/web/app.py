"""The web application: pages today, the JSON API under /api/v1 as it arrives.

Run it with `uvicorn --factory topline.web.app:create_app`; settings then come from the
`TOPLINE_*` environment variables.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from anyio import to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session
from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import topline.storage.all_models  # noqa: F401  (every mapper must be known before the first query)
from topline import __version__
from topline.config import Settings, get_settings
from topline.importers.jobs import UNFINISHED, ImportRunner, fail_interrupted
from topline.importers.models import ImportJob
from topline.storage.db import make_engine, make_session_factory, write_transaction
from topline.web import api, docs, health, views
from topline.web.docs import OPENAPI_URL
from topline.web.errors import install_error_handlers
from topline.web.jobs import DailyForecast
from topline.web.ratelimit import LoginThrottle
from topline.web.routing import TransactionRoute

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "topline_session"
API_PATH_PREFIX = f"{api.API_PREFIX}/"

API_DESCRIPTION = (
    "Topline's JSON API. Authenticate with a personal API token "
    "(`topline token create --email you@example.com`) sent as `Authorization: Bearer tl_…`. "
    'Errors are `{"error": {"code", "message", "details"}}`. Lists are paginated '
    "with `cursor`/`next_cursor`; writes to deals carry the `version` read, and a stale one "
    "answers 409 with the current record."
)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class SecurityHeadersMiddleware:
    """Adds headers that stop content sniffing, framing and leaking URLs to other sites."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class PageSessionMiddleware:
    """The signed-cookie session, for pages only.

    API calls authenticate with bearer tokens and never read the session; skipping it spares
    every API request the cookie parsing and the wrapped `send`.
    """

    def __init__(self, app: ASGIApp, *args: Any, **options: Any) -> None:
        self.app = app
        self.with_session = SessionMiddleware(app, *args, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PATH_PREFIX):
            await self.app(scope, receive, send)
        else:
            await self.with_session(scope, receive, send)


def _session_secret(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    logger.warning(
        "TOPLINE_SECRET_KEY is not set: using a random key, so sessions end when this process "
        "stops and are not shared between processes."
    )
    return secrets.token_urlsafe(32)


def _fail_interrupted_imports(engine: Engine) -> None:
    """Mark failed the imports whose server process died; writes only when there are some."""
    if not inspect(engine).has_table(ImportJob.__tablename__):
        return  # a database without Topline's schema yet: its pages say so
    with Session(engine) as session:
        if not session.scalar(select(ImportJob.id).where(ImportJob.status.in_(UNFINISHED))):
            return
    with Session(engine) as session, write_transaction(session):
        if fail_interrupted(session):
            session.commit()


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """The Topline web app for `settings` (the environment's when not given).

    Pass `engine` to share an existing database engine (tests, the demo command); the app
    then leaves disposing of it to the caller.
    """
    settings = settings or get_settings()
    owns_engine = engine is None
    db_engine = engine or make_engine(settings.database_url, echo=settings.sql_echo)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Every route does its blocking work in one thread of this pool (see `routing`).
        to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        await to_thread.run_sync(_fail_interrupted_imports, db_engine)
        daily = None
        if settings.forecast_snapshot_at is not None:
            daily = DailyForecast(db_engine, settings.forecast_snapshot_at)
            daily.start()
        yield
        if daily is not None:
            await to_thread.run_sync(daily.stop)
        await to_thread.run_sync(import_runner.close)
        if owns_engine:
            db_engine.dispose()

    app = FastAPI(
        title="Topline",
        version=__version__,
        description=API_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_URL,
        lifespan=lifespan,
    )
    # Routes added to the app itself also run in one thread and one transaction.
    app.router.route_class = TransactionRoute
    app.state.settings = settings
    app.state.engine = db_engine
    app.state.session_factory = make_session_factory(db_engine)
    app.state.login_throttle = LoginThrottle.from_settings(settings)
    import_runner = ImportRunner(db_engine, settings.data_dir)
    app.state.import_runner = import_runner

    app.add_middleware(
        PageSessionMiddleware,
        secret_key=_session_secret(settings),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_hours * 3600,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    install_error_handlers(app)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # The API first: routes are matched in order, and API calls are the hot path.
    for router in api.ROUTERS:
        app.include_router(router, prefix=api.API_PREFIX)
    app.include_router(health.router, include_in_schema=False)
    app.include_router(views.router, include_in_schema=False)
    app.include_router(docs.router)
    return app
