"""Request dependencies: the database session, the settings and the signed-in user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from topline.auth.enums import Role
from topline.auth.models import User
from topline.config import Settings
from topline.web.errors import LoginRequired
from topline.web.sessions import sign_out, signed_in_user_id

T = TypeVar("T")

# Set in a session's `info` while its request fails whole on any error, as every API request
# does (`topline.web.api.common`): a change that may be refused then needs no savepoint to
# leave no trace (`change_versioned`). The request's route clears it when the request ends.
REFUSAL_ENDS_REQUEST = "topline_refusal_ends_request"


@dataclass(frozen=True)
class RequestWork:
    """How a request's blocking work runs: `writing` when its transaction began as a writer
    (POST, PUT, PATCH, DELETE); `on_event_loop` when it runs on the event loop itself (see
    `topline.web.routing.reads_one_record`), where nothing may wait for a lock."""

    writing: bool
    on_event_loop: bool = False


class MustRunInThread(Exception):
    """Raised by work running on the event loop that would have to wait (e.g. for SQLite's
    write lock): the route rolls back and runs the request again in a worker thread."""


class InThread(Generic[T]):
    """A dependency's value, worked out with the request's blocking work when the route runs.

    A dependency that must read the database returns `InThread(compute)` instead of blocking
    the event loop; `topline.web.routing.TransactionRoute` calls `compute(work)` (a
    `RequestWork`) in the request's worker thread before the endpoint, or on the event loop for
    a quick read, and passes the result on.
    """

    def __init__(self, compute: Callable[[RequestWork], T]) -> None:
        self.compute = compute


async def get_session(request: Request) -> Session:
    """The request's session. Making one touches no database, so this stays on the event loop.

    The request's route (`topline.web.routing.TransactionRoute`, every route of the app) uses
    it, then commits or rolls back and closes it, all in the request's worker thread.
    """
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory()


DbSession = Annotated[Session, Depends(get_session)]


class RequestTransaction:
    """The request's unit of work, which its route ends in the request's worker thread: commit
    when the endpoint succeeds, roll back when anything fails, then close the session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def begin(self, work: RequestWork) -> None:
        """Called first. The session begins its transaction on first use anyway, except for a
        read on the event loop from PostgreSQL: each of its statements commits on its own
        (autocommit), which spares the round trips of BEGIN and COMMIT. Such a request reads,
        so no statement needs another's snapshot (`benchmarks/api_load.py`, one deal by id:
        1,490–1,730 to 1,800–1,880 requests/s)."""
        if work.on_event_loop:
            bind = self.session.bind
            if bind is not None and bind.dialect.name == "postgresql":
                self.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def close(self) -> None:
        self.session.close()


async def get_transaction(session: DbSession) -> RequestTransaction:
    """The unit of work of the request's session (tests replace it with a savepoint)."""
    return RequestTransaction(session)


async def get_app_settings(request: Request) -> Settings:
    """The settings `create_app` was built with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


@dataclass(frozen=True)
class PageUser:
    """The signed-in user as the page layout shows them."""

    id: int
    name: str
    role: Role


async def current_user(request: Request, session: DbSession) -> InThread[User]:
    """The signed-in, active user, or `LoginRequired` (pages redirect to the sign-in form).

    A user deactivated since signing in is signed out on their next request. The user is read
    in the request's worker thread (see `topline.web.routing`).
    """
    user_id = signed_in_user_id(request)
    if user_id is None:
        raise LoginRequired("Sign in to continue.")
    return InThread(lambda _work: _signed_in_user(request, session, user_id))


def _signed_in_user(request: Request, session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active:
        sign_out(request)
        raise LoginRequired("Sign in to continue.")
    # What pages show of the user, copied: an error page renders after the request's
    # transaction rolled back, when the User's attributes can no longer be loaded.
    request.state.user = PageUser(id=user.id, name=user.name, role=user.role)
    return user


# Endpoints receive the User: their route resolves the InThread first.
CurrentUser = Annotated[User, Depends(current_user)]
