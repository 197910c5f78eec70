"""The organisation, its users and teams."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from topline.auth.enums import Role
from topline.storage.base import Base, IdMixin
from topline.storage.types import BigId, UTCDateTime, enum_column


class Organization(IdMixin, Base):
    """The company running Topline: its name, reporting currency and fiscal calendar."""

    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint("fiscal_year_start_month BETWEEN 1 AND 12", name="fiscal_month"),
    )

    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    fiscal_year_start_month: Mapped[int] = mapped_column(Integer, default=1)


class Team(IdMixin, Base):
    """A sales team led by a manager; teams nest under a parent (a director's org).

    `version` increases on every write, as for deals, so concurrent edits fail instead of
    overwriting each other.
    """

    __tablename__ = "teams"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    manager_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", use_alter=True), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    manager: Mapped[User | None] = relationship(foreign_keys=[manager_id], lazy="raise")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class User(IdMixin, Base):
    """A person who signs in: an admin, a manager (with reports) or a rep.

    `manager_id` is the reporting line; a manager sees the records of everyone below them.
    Reps who leave keep their history: they are deactivated (`active = False`, `left_at` set),
    never deleted. `version` increases on every write, as for teams.
    """

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    manager_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    hired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    manager: Mapped[User | None] = relationship(
        remote_side="User.id", foreign_keys=[manager_id], lazy="raise"
    )
    team: Mapped[Team | None] = relationship(foreign_keys=[team_id], lazy="raise")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ApiToken(IdMixin, Base):
    """A personal API token: the bearer acts as its user, until it expires or is revoked.

    Only a SHA-256 hash of the token is stored (tokens are long and random, so a slow hash adds
    nothing); the plain token is shown once, when it is created. `prefix` is the first
    characters, kept so people can tell their tokens apart.
    """

    __tablename__ = "api_tokens"

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="raise")


class SavedView(IdMixin, Base):
    """A list page's filters and sort, saved by a person under a name to come back to.

    `page` names the list ("deals"); `query` is the page's query string as it was saved. The
    filters are checked again each time the view is opened, so a saved view never shows more
    than its owner may see at that moment.
    """

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("user_id", "page", "name", name="uq_saved_views_name"),)

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    page: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(80))
    query: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
