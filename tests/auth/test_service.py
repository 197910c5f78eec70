from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import make_user
from topline.auth import service as auth_service
from topline.auth.enums import Role
from topline.auth.errors import EmailTaken, InvalidCredentials, InvalidReportingLine, InvalidUser
from topline.auth.models import Team, User
from topline.auth.schemas import TeamUpdate
from topline.auth.service import (
    authenticate,
    create_team,
    create_user,
    update_team,
    visible_user_ids,
)
from topline.errors import Conflict


def test_create_user_hashes_password_and_authenticates(session: Session) -> None:
    user = create_user(
        session, email=" Ann@Example.com ", name="Ann Lee", role="manager", password="s3cret-pass"
    )
    assert user.email == "ann@example.com"
    assert user.password_hash and "s3cret-pass" not in user.password_hash
    assert authenticate(session, email="ANN@example.com", password="s3cret-pass").id == user.id
    with pytest.raises(InvalidCredentials, match="wrong email or password"):
        authenticate(session, email="ann@example.com", password="wrong-pass")


def test_inactive_user_cannot_sign_in(session: Session) -> None:
    user = create_user(
        session, email="gone@example.com", name="Gone", role="rep", password="password1"
    )
    user.active = False
    with pytest.raises(InvalidCredentials):
        authenticate(session, email="gone@example.com", password="password1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"email": "nope"}, "invalid email"),
        ({"name": "  "}, "name must not be empty"),
        ({"role": "boss"}, "unknown role 'boss'; use one of: admin, manager, rep"),
        ({"password": "short"}, "at least 8 characters"),
    ],
)
def test_create_user_rejects_bad_values(session: Session, kwargs: dict, message: str) -> None:
    values = {"email": "x@example.com", "name": "X", "role": "rep", "password": "long-enough"}
    values.update(kwargs)
    with pytest.raises(InvalidUser, match=message):
        create_user(session, **values)


def test_duplicate_email_and_rep_as_manager_are_refused(session: Session) -> None:
    rep = make_user(session, email="rep@example.com")
    with pytest.raises(EmailTaken):
        create_user(session, email="REP@example.com", name="Other", role="rep")
    with pytest.raises(InvalidReportingLine, match="cannot be a manager"):
        create_user(session, email="new@example.com", name="New", role="rep", manager=rep)


def test_visible_user_ids_follow_the_reporting_line(session: Session) -> None:
    admin = make_user(session, role=Role.ADMIN)
    director = make_user(session, role=Role.MANAGER)
    manager = make_user(session, role=Role.MANAGER, manager=director)
    rep_a = make_user(session, manager=manager)
    rep_b = make_user(session, manager=director)
    outsider = make_user(session)

    assert visible_user_ids(session, admin) is None
    assert sorted(visible_user_ids(session, director)) == sorted(
        [director.id, manager.id, rep_a.id, rep_b.id]
    )
    assert sorted(visible_user_ids(session, manager)) == sorted([manager.id, rep_a.id])
    assert visible_user_ids(session, rep_a) == [rep_a.id]
    assert outsider.id not in visible_user_ids(session, director)


class TestDuplicatesThatSlipPastTheCheck:
    """Two requests can both pass a service's "is it taken?" check before either writes.

    The check is switched off here to stand in for that race: the unique constraint refuses
    the second write, the service answers with the same conflict as its check would (not a
    500), and the caller's transaction stays usable.
    """

    def test_creating_a_team_with_a_taken_name(
        self, session: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        create_team(session, name="East")
        monkeypatch.setattr(auth_service, "find_team_by_name", lambda session, name: None)

        with pytest.raises(Conflict, match="name: a team named 'East' already exists") as raised:
            create_team(session, name=" East ")

        assert raised.value.details == {"field": "name"}
        assert list(session.scalars(select(Team.name))) == ["East"]

    def test_renaming_a_team_to_a_taken_name(
        self, session: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        create_team(session, name="East")
        west = create_team(session, name="West")
        monkeypatch.setattr(auth_service, "find_team_by_name", lambda session, name: None)

        with pytest.raises(Conflict, match="name: a team named 'East' already exists") as raised:
            update_team(session, west, changes=TeamUpdate(name="East"))

        assert raised.value.details == {"field": "name"}
        assert west.name == "West"
        assert sorted(session.scalars(select(Team.name))) == ["East", "West"]

    def test_creating_a_user_with_a_taken_email(
        self, session: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        make_user(session, email="rep@example.com")
        monkeypatch.setattr(auth_service, "find_user_by_email", lambda session, email: None)

        with pytest.raises(EmailTaken, match=r"rep@example\.com already exists") as raised:
            create_user(session, email="REP@example.com", name="Other", role="rep")

        assert raised.value.details == {"field": "email"}
        count = select(func.count()).where(User.email == "rep@example.com")
        assert session.scalar(count) == 1
