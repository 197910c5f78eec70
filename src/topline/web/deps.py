"""Request dependencies: the database session, the settings and the signed-in user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from topline.auth.models import User
from topline.config import Settings
from topline.web.errors import LoginRequired
from topline.web.sessions import sign_out, signed_in_user_id


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; commit on success, roll back on any exception."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory.begin() as session:
        yield session


# scope="function" commits before the response is sent, so a failed commit becomes an error
# response instead of a success the client already received.
DbSession = Annotated[Session, Depends(get_session, scope="function")]


def get_app_settings(request: Request) -> Settings:
    """The settings `create_app` was built with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def current_user(request: Request, session: DbSession) -> User:
    """The signed-in, active user, or `LoginRequired` (pages redirect to the sign-in form).

    A user deactivated since signing in is signed out on their next request.
    """
    user_id = signed_in_user_id(request)
    if user_id is None:
        raise LoginRequired("Sign in to continue.")
    user = session.get(User, user_id)
    if user is None or not user.active:
        sign_out(request)
        raise LoginRequired("Sign in to continue.")
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(current_user)]
