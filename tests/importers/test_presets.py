"""The shipped presets import each CRM's export files, as those CRMs name their columns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from topline.auth.models import User
from topline.crm.models import Account, Contact, Deal, Stage
from topline.importers.engine import ImportResult
from topline.importers.mapping import load_mapping, preset_names

Write = Callable[[str, str | bytes], Path]
Import = Callable[..., ImportResult]


@pytest.mark.parametrize("name", preset_names())
def test_each_preset_is_a_valid_mapping_named_after_its_source(name: str) -> None:
    mapping = load_mapping(name)

    assert mapping.source == name and mapping.files


def deals_by_name(db: Engine) -> dict[str, tuple[str, int, date, str | None]]:
    with Session(db) as session:
        rows = session.execute(
            select(Deal.name, Stage.name, Deal.amount_cents, Deal.close_date, Account.name)
            .join(Stage, Stage.id == Deal.stage_id)
            .outerjoin(Account, Account.id == Deal.account_id)
        ).all()
    return {name: (stage, amount, close, account) for name, stage, amount, close, account in rows}


def test_salesforce_data_export(db: Engine, do_import: Import, write: Write) -> None:
    files = [
        write("User.csv", "Id,Email,Name,FirstName,LastName,ManagerId,IsActive,CreatedDate\n"
              "005A,boss@sf.example,Bo Boss,Bo,Boss,,true,2020-01-01T00:00:00.000Z\n"
              "005B,rep@sf.example,Re Rep,Re,Rep,005A,true,2021-05-01T00:00:00.000Z\n"),
        write("Account.csv", "Id,Name,Website,Industry,NumberOfEmployees,AnnualRevenue,"
              "BillingCountry,OwnerId,CreatedDate\n"
              "001A,Acme,acme.example,Technology,250,5000000,USA,005B,2022-02-02T10:00:00.000Z\n"),
        write("Contact.csv", "Id,AccountId,FirstName,LastName,Email,Title,CreatedDate\n"
              "003A,001A,Ann,Able,ann@acme.example,CFO,2022-02-03T10:00:00.000Z\n"),
        write("Opportunity.csv", "Id,AccountId,Name,StageName,Amount,CloseDate,OwnerId,"
              "CreatedDate,Type,LeadSource,ForecastCategoryName\n"
              "006A,001A,Acme - 250 seats,Proposal/Price Quote,30000,2025-06-30,005B,"
              "2025-01-10T09:00:00.000Z,New Customer,Web,Best Case\n"
              "006B,001A,Acme - support,Closed Won,,2025-02-28,005B,"
              "2024-12-01T09:00:00.000Z,Existing Customer - Upgrade,Partner,Closed\n"),
    ]  # fmt: skip

    result = do_import(*files, mapping=load_mapping("salesforce"))

    assert result.committed, [str(p) for p in result.problems]
    assert deals_by_name(db) == {
        "Acme - 250 seats": ("Proposal", 3_000_000, date(2025, 6, 30), "Acme"),
        "Acme - support": ("Closed Won", 0, date(2025, 2, 28), "Acme"),
    }
    with Session(db) as session:
        rep = session.scalars(select(User).where(User.email == "rep@sf.example")).one()
        boss = session.scalars(select(User).where(User.email == "boss@sf.example")).one()
        assert rep.manager_id == boss.id
        deal = session.scalars(select(Deal).where(Deal.name == "Acme - 250 seats")).one()
        assert (deal.forecast_category, deal.type, deal.source) == (
            "best_case", "new_business", "Web",
        )  # fmt: skip
        assert session.scalars(select(Contact.title)).one() == "CFO"


def test_hubspot_exports(db: Engine, do_import: Import, write: Write) -> None:
    files = [
        write("hubspot-crm-exports-all-companies-2025-03-01.csv",
              "Record ID,Company name,Company Domain Name,Industry,Number of Employees\n"
              "101,Globex,globex.example,RETAIL,1200\n"),
        write("hubspot-crm-exports-all-contacts-2025-03-01.csv",
              "Record ID,First Name,Last Name,Email,Associated Company\n"
              "201,Gus,Grant,gus@globex.example,Globex\n"),
        write("hubspot-crm-exports-all-deals-2025-03-01.csv",
              "Record ID,Deal Name,Deal Stage,Amount,Close Date,Deal owner,Create Date,"
              "Associated Company,Deal Type\n"
              "301,Globex rollout,Contract Sent,\"12,500\",2025-04-30 00:00,Ana Lopez,"
              "2025-01-05 13:20,Globex,Existing Business\n"),
    ]  # fmt: skip
    with Session(db) as session:
        session.add(User(email="ana@hub.example", name="Ana Lopez", role="rep",
                         hired_at=_utc("2024-01-01"), created_at=_utc("2024-01-01")))  # fmt: skip
        session.commit()

    result = do_import(*files, mapping=load_mapping("hubspot"))

    assert result.committed, [str(p) for p in result.problems]
    assert deals_by_name(db) == {
        "Globex rollout": ("Negotiation", 1_250_000, date(2025, 4, 30), "Globex")
    }


def test_pipedrive_exports(db: Engine, do_import: Import, write: Write) -> None:
    files = [
        write("organizations-export.csv", "Organization - ID,Organization - Name\n7,Initech\n"),
        write("people-export.csv", "Person - ID,Person - Name,Person - Email,"
              "Person - Organization\n8,Peter Gibbons,peter@initech.example,Initech\n"),
        write("deals-export.csv", "Deal - ID,Deal - Title,Deal - Value,Deal - Status,"
              "Deal - Stage,Deal - Owner,Deal - Organization,Deal - Expected close date,"
              "Deal - Won time,Deal - Lost time,Deal - Lost reason,Deal - Deal created\n"
              "9,TPS upgrade,4000,won,Negotiations Started,Bill L,Initech,2025-05-31,"
              "2025-05-02 11:00:00,,,2025-03-01 08:00:00\n"
              "10,Stapler deal,150,lost,Proposal Made,Bill L,Initech,2025-06-30,,"
              "2025-04-01 16:00:00,Price,2025-03-02 08:00:00\n"
              "11,Printer fix,900,open,Proposal Made,Bill L,Initech,2025-07-31,,,,"
              "2025-03-03 08:00:00\n"),
    ]  # fmt: skip
    with Session(db) as session:
        session.add(User(email="bill@initech.example", name="Bill L", role="manager",
                         hired_at=_utc("2024-01-01"), created_at=_utc("2024-01-01")))  # fmt: skip
        session.commit()

    result = do_import(*files, mapping=load_mapping("pipedrive"))

    assert result.committed, [str(p) for p in result.problems]
    assert deals_by_name(db) == {
        "TPS upgrade": ("Closed Won", 400_000, date(2025, 5, 2), "Initech"),
        "Stapler deal": ("Closed Lost", 15_000, date(2025, 4, 1), "Initech"),
        "Printer fix": ("Proposal", 90_000, date(2025, 7, 31), "Initech"),
    }


def _utc(day: str):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromisoformat(day).replace(tzinfo=UTC)
