"""A tiny demo org with hostile values in every table, built once per backend, and ways to
compare two databases row for row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Engine, Text, cast, null, select
from sqlalchemy.orm import Session

from tests.databases import backends, fresh_engine
from tests.factories import make_deal
from topline.audit.models import AuditEntry
from topline.auth.models import ApiToken, SavedView, User
from topline.crm.models import Account, Lead, Stage
from topline.demo import build_demo
from topline.exporters.manifest import backup_tables
from topline.forecasting.models import ForecastSnapshot
from topline.importers.models import ExternalId, ImportJob, JobStatus
from topline.scoring.models import DealScore, LeadScore, ScoringModel

HOSTILE_TEXT = '=HYPERLINK("http://x","y") Zoë 北京 😀\nline two\r\n\ttabbed \\N back\\slash'
AT = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


@dataclass(frozen=True)
class SourceOrg:
    """An engine on a database holding the org, and where its files may go."""

    engine: Engine
    backend: str
    directory: Path


@pytest.fixture(scope="session", params=backends())
def source(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SourceOrg]:
    """The tiny demo org plus edge cases, on each backend; tests must not change it."""
    directory = tmp_path_factory.mktemp("export_source")
    engine = fresh_engine(request.param, directory, "export_source")
    build_demo(engine, size="tiny", seed=5)
    add_edge_cases(engine)
    yield SourceOrg(engine, request.param, directory)
    engine.dispose()


def add_edge_cases(engine: Engine) -> None:
    """Rows for the tables the demo leaves empty, and values that are easy to get wrong."""
    with Session(engine) as session, session.begin():
        owner = session.scalars(select(User).where(User.active).order_by(User.id)).first()
        stage = session.scalars(select(Stage).order_by(Stage.id)).first()
        account = session.scalars(select(Account).order_by(Account.id)).first()
        assert owner and stage and account
        deal = make_deal(
            session,
            owner=owner,
            stage=stage,
            account=account,
            name=HOSTILE_TEXT,
            amount_cents=2**62,
            close_date=date(2999, 12, 31),
            at=AT,
            next_step="",
            source="\\N",
        )
        after = {
            "name": HOSTILE_TEXT,
            "amount_cents": 2**62,
            "nested": [1, 2.5, None, True, {"ü": "\u0001"}],
        }
        session.add_all(
            [
                AuditEntry(actor_id=owner.id, action="deal.create", entity_type="deal",
                           entity_id=deal.id, before=null(), after=after, at=AT),
                AuditEntry(actor_id=None, action="deal.touch", entity_type="deal",
                           entity_id=None, before=None, after=[], at=AT.replace(microsecond=0)),
                ApiToken(user_id=owner.id, name="script ✓", prefix="tl_abcdefg",
                         token_hash="f" * 64, created_at=AT, expires_at=None, last_used_at=AT,
                         revoked_at=None),
                ExternalId(source="salesforce", entity="account", key='=cmd|" /C calc"!A0, ü',
                           record_id=account.id, imported_at=AT),
                ImportJob(created_by_id=owner.id, status=JobStatus.DONE, dry_run=False,
                          keep_valid=True, preset=None, mapping_yaml="source: x\nfiles: []\n",
                          files=[{"name": "Zoë.csv", "bytes": 12}], result={"committed": True},
                          error=None, worker="host:1", created_at=AT, started_at=AT,
                          finished_at=None),
            ]
        )  # fmt: skip
        model = ScoringModel(kind="deal_win", version=1, method="historical_rates",
                             trained_at=AT, as_of=AT, window_start=None, window_end=AT,
                             n_train=0, n_test=0, metrics={"message": HOSTILE_TEXT},
                             importances=[], booster=None, state={"rates": {"1": 0.25}},
                             state_sha256="0" * 64)  # fmt: skip
        session.add(model)
        session.flush()
        session.add(DealScore(deal_id=deal.id, model_id=model.id, probability=1 / 3,
                              factors=None, scored_at=AT))  # fmt: skip
        lead = session.scalars(select(Lead).order_by(Lead.id)).first()
        assert lead is not None
        session.add(LeadScore(lead_id=lead.id, model_id=model.id, probability=0.0,
                              factors={"up": [], "down": [{"text": HOSTILE_TEXT}]},
                              scored_at=AT))  # fmt: skip
        session.add(ForecastSnapshot(scope_key=f"rep:{owner.id}", scope_kind="rep",
                                     scope_user_id=owner.id, period_start=date(2025, 1, 1),
                                     period_end=date(2025, 4, 1), method="projection",
                                     taken_on=AT.date(), taken_at=AT, expected_cents=2**62,
                                     p10_cents=0, p50_cents=None, p90_cents=2**62,
                                     won_cents=0, open_deals=1,
                                     details={"drivers": [{"factors": [HOSTILE_TEXT]}]},
                                     ))  # fmt: skip
        session.add(SavedView(user_id=owner.id, page="deals", name=HOSTILE_TEXT[:80],
                              query="status=open&q=%27%3B--", created_at=AT))  # fmt: skip


def table_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows ordered by primary key, as the application reads them (aware UTC
    datetimes, enums, parsed JSON) plus each JSON column's exact text."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in backup_tables():
            json_text = [
                cast(column, Text).label(f"{column.name}_text")
                for column in table.columns
                if isinstance(column.type, JSON)
            ]
            statement = select(*table.columns, *json_text).order_by(*table.primary_key.columns)
            tables[table.name] = [tuple(row) for row in connection.execute(statement)]
    return tables


def stored_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows exactly as the driver returns them (SQLite: the stored text)."""
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.exec_driver_sql(f'SELECT * FROM "{table.name}" ORDER BY id')
            ]
            for table in backup_tables()
        }
