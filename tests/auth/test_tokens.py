"""Personal API tokens as a service: stored hashed, shown once, revocable, expiring."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.factories import make_user
from topline.auth.enums import Role
from topline.auth.errors import InvalidUser
from topline.auth.tokens import (
    LAST_USED_RESOLUTION,
    InvalidToken,
    TokenNotFound,
    authenticate_token,
    check_token,
    check_token_caller,
    create_token,
    hash_token,
    list_tokens,
    revoke_token,
)
from topline.auth.viewers import Caller

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def test_only_the_hash_is_stored_and_the_plain_token_authenticates(session: Session) -> None:
    rep = make_user(session)

    token, plain = create_token(session, user=rep, name=" Laptop ", at=T0)

    assert plain.startswith("tl_") and len(plain) > 40
    assert token.token_hash == hash_token(plain) != plain
    assert (token.name, token.prefix, token.created_at) == ("Laptop", plain[:10], T0)
    assert authenticate_token(session, plain, at=T0).id == rep.id


def test_two_tokens_are_never_the_same(session: Session) -> None:
    rep = make_user(session)

    _, first = create_token(session, user=rep, name="a", at=T0)
    _, second = create_token(session, user=rep, name="b", at=T0)

    assert first != second


def test_revoked_token_stops_working_at_once(session: Session) -> None:
    rep = make_user(session)
    token, plain = create_token(session, user=rep, name="ci", at=T0)

    revoke_token(session, token.id, actor=rep, at=T0 + timedelta(seconds=1))

    assert token.revoked_at == T0 + timedelta(seconds=1)
    with pytest.raises(InvalidToken, match="revoked"):
        authenticate_token(session, plain, at=T0 + timedelta(seconds=2))


def test_revoking_twice_keeps_the_first_moment(session: Session) -> None:
    rep = make_user(session)
    token, _ = create_token(session, user=rep, name="ci", at=T0)
    revoke_token(session, token.id, actor=rep, at=T0)

    revoke_token(session, token.id, actor=rep, at=T0 + timedelta(days=1))

    assert token.revoked_at == T0


def test_token_expires_at_its_expiry(session: Session) -> None:
    rep = make_user(session)
    _, plain = create_token(session, user=rep, name="ci", expires_at=T0 + timedelta(hours=1), at=T0)

    assert authenticate_token(session, plain, at=T0 + timedelta(minutes=59)).id == rep.id
    with pytest.raises(InvalidToken, match="expired"):
        authenticate_token(session, plain, at=T0 + timedelta(hours=1))


def test_token_of_a_deactivated_user_is_refused(session: Session) -> None:
    rep = make_user(session)
    _, plain = create_token(session, user=rep, name="ci", at=T0)
    rep.active = False
    session.flush()

    with pytest.raises(InvalidToken, match="inactive"):
        authenticate_token(session, plain, at=T0)


@pytest.mark.parametrize("plain", ["", "Bearer tl_x", "tl_unknown", "tl_" + "x" * 300, "xx_abc"])
def test_unknown_or_malformed_tokens_are_refused(session: Session, plain: str) -> None:
    with pytest.raises(InvalidToken):
        authenticate_token(session, plain, at=T0)


def test_the_caller_check_answers_and_refuses_as_the_user_check(session: Session) -> None:
    # Reads of one record check the token without the ORM's User: the same answers.
    manager = make_user(session, role=Role.MANAGER)
    _, fresh = create_token(session, user=manager, name="ok", at=T0)
    revoked, was_revoked = create_token(session, user=manager, name="gone", at=T0)
    revoke_token(session, revoked.id, actor=manager, at=T0)
    _, expired = create_token(
        session, user=manager, name="old", expires_at=T0 + timedelta(hours=1), at=T0
    )
    leaver = make_user(session)
    _, inactive = create_token(session, user=leaver, name="left", at=T0)
    leaver.active = False
    session.flush()

    assert check_token_caller(session, fresh, at=T0)[0] == Caller(manager.id, Role.MANAGER)
    later = T0 + timedelta(hours=2)
    for plain in (fresh, was_revoked, expired, inactive, "tl_unknown", "xx_abc", "tl_" + "x" * 300):
        try:
            user, use = check_token(session, plain, at=later)
        except InvalidToken as error:
            with pytest.raises(InvalidToken, match=f"^{re.escape(str(error))}$"):
                check_token_caller(session, plain, at=later)
        else:
            caller, caller_use = check_token_caller(session, plain, at=later)
            assert (caller.id, caller.role, caller_use) == (user.id, user.role, use)


def test_last_used_is_written_at_most_once_a_minute(session: Session) -> None:
    rep = make_user(session)
    token, plain = create_token(session, user=rep, name="ci", at=T0)

    authenticate_token(session, plain, at=T0)
    authenticate_token(session, plain, at=T0 + LAST_USED_RESOLUTION - timedelta(seconds=1))
    assert token.last_used_at == T0

    authenticate_token(session, plain, at=T0 + LAST_USED_RESOLUTION)
    assert token.last_used_at == T0 + LAST_USED_RESOLUTION


@pytest.mark.parametrize(
    ("name", "expires_at", "message"),
    [
        ("  ", None, "needs a name"),
        ("x" * 101, None, "at most 100"),
        ("ci", T0, "in the future"),
        ("ci", T0 - timedelta(days=1), "in the future"),
    ],
)
def test_bad_tokens_are_refused(
    session: Session, name: str, expires_at: datetime | None, message: str
) -> None:
    rep = make_user(session)

    with pytest.raises(InvalidUser, match=message):
        create_token(session, user=rep, name=name, expires_at=expires_at, at=T0)


def test_inactive_people_get_no_tokens(session: Session) -> None:
    gone = make_user(session, active=False)

    with pytest.raises(InvalidUser, match="inactive"):
        create_token(session, user=gone, name="ci", at=T0)


def test_people_list_and_revoke_their_own_tokens_admins_everyones(session: Session) -> None:
    admin = make_user(session, role=Role.ADMIN)
    rita, ray = make_user(session), make_user(session)
    older, _ = create_token(session, user=rita, name="old", at=T0)
    newer, _ = create_token(session, user=rita, name="new", at=T0 + timedelta(hours=1))
    rays, _ = create_token(session, user=ray, name="ray", at=T0 + timedelta(hours=2))

    assert [t.id for t in list_tokens(session, viewer=rita)] == [newer.id, older.id]
    assert [t.id for t in list_tokens(session, viewer=admin)] == [rays.id, newer.id, older.id]
    with pytest.raises(TokenNotFound):
        revoke_token(session, rays.id, actor=rita, at=T0)
    assert rays.revoked_at is None
    assert revoke_token(session, rays.id, actor=admin, at=T0).revoked_at == T0
    with pytest.raises(TokenNotFound):
        revoke_token(session, 999_999, actor=admin, at=T0)
