"""Shared fixtures: migrated databases on both backends and a rolled-back session per test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.databases import backends, fresh_engine
from tests.factories import SalesOrg, make_account, make_deal, make_pipeline, make_user, stage_named
from tests.helpers import rolled_back
from topline.auth.enums import Role
from topline.auth.models import User
from topline.auth.passwords import hash_password
from topline.crm.deals import close_deal_won
from topline.storage.migrate import upgrade_database

PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every app built by a test keeps its files (import uploads) here, never in the user's
    own data directory."""
    path = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOPLINE_DATA_DIR", str(path))
        yield path


@pytest.fixture(scope="session", params=backends())
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A database built by the migrations, once per backend for the whole run."""
    engine = fresh_engine(request.param, tmp_path_factory.mktemp("db"), "unit")
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    with rolled_back(engine) as db:
        yield db


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One Argon2 hash of `PASSWORD` for the whole run: hashing is slow on purpose."""
    return hash_password(PASSWORD)


@pytest.fixture
def org(session: Session, password_hash: str) -> SalesOrg:
    """The sales org every pipeline test reads; every user signs in with `PASSWORD`."""

    def person(name: str, role: Role, manager: User | None = None) -> User:
        email = f"{name.lower()}@topline.example"
        return make_user(
            session, role=role, manager=manager, name=name, email=email, password_hash=password_hash
        )

    pipeline = make_pipeline(session, name="New Business")
    admin = person("Ada", Role.ADMIN)
    maria = person("Maria", Role.MANAGER)
    rita = person("Rita", Role.REP, maria)
    ray = person("Ray", Role.REP, maria)
    otto = person("Otto", Role.MANAGER)
    olga = person("Olga", Role.REP, otto)

    def deal(owner: User, stage: str, dollars: int, name: str) -> None:
        make_deal(
            session,
            owner=owner,
            stage=stage_named(session, pipeline, stage),
            amount_cents=dollars * 100,
            account=make_account(session, owner=owner, name=f"{name} Inc"),
            name=name,
            close_date=date(2025, 3, 31),
        )

    deal(rita, "Prospecting", 10_000, "Rita Prospect")
    deal(rita, "Proposal", 25_000, "Rita Proposal")
    deal(ray, "Proposal", 40_000, "Ray Proposal")
    deal(ray, "Negotiation", 15_000, "Ray Negotiation")
    deal(olga, "Discovery", 100_000, "Olga Discovery")
    won = make_deal(
        session,
        owner=rita,
        stage=stage_named(session, pipeline, "Negotiation"),
        amount_cents=500_000_00,
        name="Rita Won",
    )
    close_deal_won(session, won, actor=rita, at=datetime(2025, 2, 3, tzinfo=UTC))
    return SalesOrg(pipeline, admin, maria, rita, ray, otto, olga)
