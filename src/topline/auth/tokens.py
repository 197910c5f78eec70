"""Personal API tokens: create (shown once), list, revoke, and authenticate a bearer."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from topline.auth.enums import Role
from topline.auth.errors import InvalidUser
from topline.auth.models import ApiToken, User
from topline.auth.viewers import Caller
from topline.clock import ensure_utc, utcnow
from topline.errors import NotAuthenticated, NotFound

TOKEN_PREFIX = "tl_"
# Writing last_used_at on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenNotFound(NotFound):
    """No token with that id visible to the caller."""


class InvalidToken(NotAuthenticated):
    """The bearer token is unknown, revoked or expired."""

    code = "invalid_token"


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    *,
    user: User,
    name: str,
    expires_at: datetime | None = None,
    at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token for `user` and its plain text, which is never stored or shown again."""
    now = ensure_utc(at or utcnow())
    name = name.strip()
    if not name:
        raise InvalidUser("a token needs a name (what it is for)")
    if len(name) > 100:
        raise InvalidUser("token name must have at most 100 characters")
    if not user.active:
        raise InvalidUser(f"{user.email} is inactive and cannot get tokens")
    if expires_at is not None and ensure_utc(expires_at) <= now:
        raise InvalidUser("a token's expiry must be in the future")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=plain[:10],
        token_hash=hash_token(plain),
        created_at=now,
        expires_at=ensure_utc(expires_at) if expires_at else None,
    )
    session.add(token)
    session.flush()
    return token, plain


def list_tokens(session: Session, *, viewer: User) -> list[ApiToken]:
    """The viewer's own tokens (an admin sees everyone's), newest first."""
    stmt = select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    if viewer.role != Role.ADMIN:
        stmt = stmt.where(ApiToken.user_id == viewer.id)
    return list(session.scalars(stmt))


def revoke_token(
    session: Session, token_id: int, *, actor: User, at: datetime | None = None
) -> ApiToken:
    """Stop a token working at once. Users revoke their own; admins anyone's."""
    token = session.get(ApiToken, token_id)
    if token is None or (actor.role != Role.ADMIN and token.user_id != actor.id):
        raise TokenNotFound(f"token {token_id} not found")
    if token.revoked_at is None:
        token.revoked_at = ensure_utc(at or utcnow())
        session.flush()
    return token


@dataclass(frozen=True)
class TokenUse:
    """A use of a token whose `last_used_at` is due to be written."""

    token_id: int
    at: datetime


def check_token(
    session: Session, plain: str, *, at: datetime | None = None
) -> tuple[User, TokenUse | None]:
    """The active user a bearer token belongs to (else `InvalidToken`), and the use to record
    when the token's `last_used_at` is older than `LAST_USED_RESOLUTION`. Only reads."""
    now = ensure_utc(at or utcnow())
    # One query for the token and its user: this runs on every API request.
    row = session.execute(_TOKEN_LOOKUP, {"token_hash": _hashed(plain)}).one_or_none()
    if row is None:
        raise InvalidToken("invalid or revoked API token")
    user, token_id, expires_at, revoked_at, last_used_at = row
    use = _checked(token_id, expires_at, revoked_at, last_used_at, user.active, now)
    return user, use


def check_token_caller(
    session: Session, plain: str, *, at: datetime | None = None
) -> tuple[Caller, TokenUse | None]:
    """`check_token` answering the user's id and role only, read without the ORM: a read of
    one record needs no more, and building the `User` cost a fifth of such a read."""
    now = ensure_utc(at or utcnow())
    row = session.connection().execute(_CALLER_LOOKUP, {"token_hash": _hashed(plain)}).one_or_none()
    if row is None:
        raise InvalidToken("invalid or revoked API token")
    user_id, role, active, token_id, expires_at, revoked_at, last_used_at = row
    use = _checked(token_id, expires_at, revoked_at, last_used_at, active, now)
    return Caller(user_id, role), use


def _hashed(plain: str) -> str:
    if not plain.startswith(TOKEN_PREFIX) or len(plain) > 200:
        raise InvalidToken("invalid API token")
    return hash_token(plain)


def _checked(
    token_id: int,
    expires_at: datetime | None,
    revoked_at: datetime | None,
    last_used_at: datetime | None,
    active: bool,
    now: datetime,
) -> TokenUse | None:
    """Refuse a revoked or expired token or an inactive user; else the use to record, if due."""
    if revoked_at is not None:
        raise InvalidToken("invalid or revoked API token")
    if expires_at is not None and expires_at <= now:
        raise InvalidToken("this API token has expired")
    if not active:
        raise InvalidToken("the token belongs to an inactive user")
    due = last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION
    return TokenUse(token_id, now) if due else None


# Built once: building the statement on each request cost as much as running it.
_TOKEN_LOOKUP = (
    select(User, ApiToken.id, ApiToken.expires_at, ApiToken.revoked_at, ApiToken.last_used_at)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)
_USERS, _TOKENS = User.__table__, ApiToken.__table__
_CALLER_LOOKUP = (
    select(
        _USERS.c.id,
        _USERS.c.role,
        _USERS.c.active,
        _TOKENS.c.id,
        _TOKENS.c.expires_at,
        _TOKENS.c.revoked_at,
        _TOKENS.c.last_used_at,
    )
    .join_from(_USERS, _TOKENS, _TOKENS.c.user_id == _USERS.c.id)
    .where(_TOKENS.c.token_hash == bindparam("token_hash"))
)


def record_token_use(session: Session, use: TokenUse) -> None:
    """Write `last_used_at`, unless a concurrent request just wrote a later one."""
    token = session.get(ApiToken, use.token_id)
    if token is not None and (token.last_used_at is None or token.last_used_at < use.at):
        token.last_used_at = use.at
        session.flush()


def authenticate_token(session: Session, plain: str, *, at: datetime | None = None) -> User:
    """The active user a bearer token belongs to, or `InvalidToken`; records the use in
    `session` (at most once per `LAST_USED_RESOLUTION`)."""
    user, use = check_token(session, plain, at=at)
    if use is not None:
        record_token_use(session, use)
    return user
