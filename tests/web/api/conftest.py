"""API fixtures: a client that sends a real bearer token of a chosen user."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from topline.auth.models import User
from topline.auth.tokens import create_token


@pytest.fixture
def api_as(
    session: Session, make_client: Callable[..., TestClient]
) -> Callable[[User], TestClient]:
    """A client authenticated as `user` with a freshly created personal API token."""

    def build(user: User) -> TestClient:
        _, plain = create_token(session, user=user, name="tests")
        client = make_client()
        client.headers["Authorization"] = f"Bearer {plain}"
        return client

    return build
