"""Imports end to end on both databases: all rows or none, problems named by row and column,
idempotent re-imports, likely duplicates reported, history from dates."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.helpers import assert_deal_pushes, assert_deal_stays, assert_history_marks
from tests.importers.helpers import counts
from topline.auth.enums import Role
from topline.auth.models import Team, User
from topline.crm.models import (
    Account,
    Activity,
    Contact,
    Deal,
    DealHistory,
    DealStay,
    Lead,
    Stage,
)
from topline.importers.engine import ImportResult
from topline.importers.mapping import MappingError
from topline.storage.statistics import analyzed_rows

Write = Callable[[str, str | bytes], Path]
Import = Callable[..., ImportResult]

USERS = """email,name,role,manager,team
maria@acme.example,Maria Manager,manager,,East
rita@acme.example,Rita Rep,rep,maria@acme.example,East
ray@acme.example,Ray Rep,rep,Maria Manager,East
"""
TEAMS = "name\nEast\n"
ACCOUNTS = """account id,account name,website,industry,employees,annual revenue,country,owner
A1,Acme,acme.example,Software,120,"$1,200,000",US,rita@acme.example
A2,Globex,globex.example,Retail,45000,,DE,Ray Rep
"""
CONTACTS = """contact id,account,first name,last name,email,title
C1,A1,Ann,Able,ann@acme.example,CFO
C2,Globex,Gus,Grant,gus@globex.example,Buyer
"""
DEALS = (
    "opportunity id,opportunity name,account,contact,owner,stage,amount,close date,created date\n"
    """D1,Acme renewal,A1,C1,rita@acme.example,Proposal,"12,000",2025-06-30,2025-01-15
D2,Globex pilot,Globex,,ray@acme.example,Closed Won,5000,2025-03-31,2025-02-01
D3,Acme expansion,Acme,,Rita Rep,Prospecting,800,2025-09-30,2025-03-01
"""
)


@pytest.fixture
def org_files(write: Write) -> list[Path]:
    return [
        write("teams.csv", TEAMS),
        write("users.csv", USERS),
        write("accounts.csv", ACCOUNTS),
        write("contacts.csv", CONTACTS),
        write("deals.csv", DEALS),
    ]


def test_related_files_import_with_columns_matched_by_header(
    db: Engine, do_import: Import, org_files: list[Path]
) -> None:
    result = do_import(*org_files)

    assert result.committed, [str(p) for p in result.problems]
    assert result.problem_count == 0
    created = {(s.file, s.entity): s.created for s in result.files}
    assert created == {
        ("teams.csv", "teams"): 1,
        ("users.csv", "users"): 3,
        ("accounts.csv", "accounts"): 2,
        ("contacts.csv", "contacts"): 2,
        ("deals.csv", "deals"): 3,
    }
    with Session(db) as session:
        users = {u.email: u for u in session.scalars(select(User))}
        maria, rita, ray = (users[f"{n}@acme.example"] for n in ("maria", "rita", "ray"))
        east = session.scalars(select(Team)).one()
        assert (maria.role, rita.role) == (Role.MANAGER, Role.REP)
        assert rita.manager_id == maria.id and ray.manager_id == maria.id  # by email and by name
        assert {maria.team_id, rita.team_id, ray.team_id} == {east.id}
        assert maria.password_hash is None  # imported people sign in once given a password
        acme = session.scalars(select(Account).where(Account.name == "Acme")).one()
        assert (acme.domain, acme.employees, acme.annual_revenue_cents, acme.country) == (
            "acme.example", 120, 120_000_000, "US",
        )  # fmt: skip
        assert acme.owner_id == rita.id
        gus = session.scalars(select(Contact).where(Contact.email == "gus@globex.example")).one()
        assert gus.account_id != acme.id
        deals = {d.name: d for d in session.scalars(select(Deal))}
        renewal = deals["Acme renewal"]
        assert (renewal.amount_cents, renewal.close_date, renewal.account_id) == (
            1_200_000, date(2025, 6, 30), acme.id,
        )  # fmt: skip
        assert renewal.created_at == datetime(2025, 1, 15, tzinfo=UTC)
        won = deals["Globex pilot"]
        stage = session.get(Stage, won.stage_id)
        assert stage is not None and stage.name == "Closed Won"
        assert won.closed_at == datetime(2025, 2, 1, tzinfo=UTC)  # no close moment: its start
        assert deals["Acme expansion"].account_id == acme.id  # by name
        history = session.scalars(select(DealHistory)).all()
        assert len(history) == 3 and all(h.valid_to is None for h in history)


def test_one_bad_row_means_nothing_is_written(
    db: Engine, do_import: Import, org_files: list[Path], write: Write
) -> None:
    bad = DEALS + "D4,Broken,A1,,rita@acme.example,Proposal,-5,2025-13-01,2025-01-01\n"
    files = [*org_files[:-1], write("deals.csv", bad)]
    before = counts(db)

    result = do_import(*files)

    assert not result.committed
    assert counts(db) == before
    messages = {(p.file, p.row, p.column): p.message for p in result.problems}
    assert messages[("deals.csv", 5, "amount")] == "amount: negative amount '-5'"
    assert messages[("deals.csv", 5, "close date")] == "close_date: '2025-13-01' is not a real date"
    deals = next(s for s in result.files if s.entity == "deals")
    assert (deals.rows, deals.created, deals.rejected) == (4, 3, 1)


def test_keep_valid_imports_the_rest_and_writes_the_rejected_rows(
    db: Engine, do_import: Import, org_files: list[Path], write: Write, tmp_path: Path
) -> None:
    bad = DEALS + (
        'D4,"=HYPERLINK(""http://evil.example"",""x"")",A1,,nobody@acme.example,Proposal,'
        "10,2025-06-30,2025-01-01\n"
    )
    files = [*org_files[:-1], write("deals.csv", bad)]
    errors = tmp_path / "rejected.csv"

    result = do_import(*files, keep_valid=True, errors_path=errors)

    assert result.committed
    assert counts(db)["deals"] == 3
    with errors.open(newline="") as handle:
        rejected = list(csv.DictReader(handle))
    assert len(rejected) == 1
    assert rejected[0]["source_file"] == "deals.csv" and rejected[0]["source_row"] == "5"
    assert "no user 'nobody@acme.example'" in rejected[0]["import_problems"]
    # A formula in the data stays data: the error file neutralizes it for spreadsheets.
    assert rejected[0]["opportunity name"] == '\'=HYPERLINK("http://evil.example","x")'


def test_re_importing_updates_instead_of_duplicating(
    db: Engine, do_import: Import, org_files: list[Path], write: Write
) -> None:
    assert do_import(*org_files).committed
    once = counts(db)

    again = do_import(*org_files)

    assert again.committed
    assert counts(db) == {**once, "audit_log": once["audit_log"] + 1}  # each import is audited
    assert all(s.created == 0 and s.updated == 0 for s in again.files)
    changed = DEALS.replace('"12,000",2025-06-30', '"15,000",2025-07-31')
    third = do_import(*org_files[:-1], write("deals.csv", changed))
    assert next(s for s in third.files if s.entity == "deals").updated == 1
    with Session(db) as session:
        deal = session.scalars(select(Deal).where(Deal.name == "Acme renewal")).one()
        assert (deal.amount_cents, deal.close_date) == (1_500_000, date(2025, 7, 31))
        rows = session.scalars(
            select(DealHistory).where(DealHistory.deal_id == deal.id).order_by(DealHistory.id)
        ).all()
        assert [r.amount_cents for r in rows] == [1_200_000, 1_500_000]
        assert rows[0].valid_to == rows[1].valid_from and rows[1].valid_to is None
        assert rows[1].changed_fields == "amount,close_date"
        assert assert_history_marks(session) == counts(db)["deal_history"]
        assert assert_deal_pushes(session) == 1
        assert (deal.push_count, deal.last_pushed_at) == (1, rows[1].valid_from)


def test_re_importing_a_new_recurring_amount_rewrites_the_copies_on_history(
    db: Engine, do_import: Import, org_files: list[Path], write: Write
) -> None:
    """History rows repeat their deal's subscription fields (`DealHistory`); a re-import that
    changes only those adds no history row and rewrites the copies on the deal's old rows."""

    def deals(amount: str, kind: str, mrr: str) -> Path:
        rows = DEALS.replace('"12,000"', amount).replace(
            "2025-01-15\n", f"2025-01-15,{kind},{mrr}\n"
        )
        return write("deals.csv", rows.replace("created date\n", "created date,type,mrr\n"))

    assert do_import(*org_files[:-1], deals('"12,000"', "renewal", "1000")).committed
    assert do_import(*org_files[:-1], deals("15000", "renewal", "1000")).committed

    again = do_import(*org_files[:-1], deals("15000", "expansion", "1250"))

    assert next(s for s in again.files if s.entity == "deals").updated == 1
    with Session(db) as session:
        deal = session.scalars(select(Deal).where(Deal.name == "Acme renewal")).one()
        rows = session.execute(
            select(DealHistory.changed_fields, DealHistory.deal_type,
                   DealHistory.recurring_amount_cents)
            .where(DealHistory.deal_id == deal.id).order_by(DealHistory.id)
        ).all()  # fmt: skip
        assert [tuple(row) for row in rows] == [
            ("created", "expansion", 125_000),
            ("amount", "expansion", 125_000),
        ]
        assert assert_history_marks(session) == counts(db)["deal_history"]


def test_likely_duplicates_are_reported_not_created(
    db: Engine, do_import: Import, write: Write
) -> None:
    assert do_import(write("accounts.csv", "name,domain\nAcme,acme.example\n")).committed

    result = do_import(write("accounts.csv", "name,domain\nACME,\nAcme Corp,acme.example\n"))

    assert not result.committed
    assert [(p.row, p.message.split(" (")[0]) for p in result.problems] == [
        (2, "likely duplicate of account " + str(_account_id(db, "Acme"))),
        (3, "likely duplicate of account " + str(_account_id(db, "Acme"))),
    ]
    assert counts(db)["accounts"] == 1


def _account_id(db: Engine, name: str) -> int:
    with Session(db) as session:
        return session.scalars(select(Account.id).where(Account.name == name)).one()


def test_duplicate_keys_and_missing_references_are_problems(
    db: Engine, do_import: Import, write: Write
) -> None:
    accounts = write("accounts.csv", "account id,name\nA1,Acme\nA1,Acme again\n")
    contacts = write("contacts.csv", "account,name\nNowhere Inc,Ann Able\n")

    result = do_import(accounts, contacts)

    assert not result.committed
    problems = [str(p) for p in result.problems]
    assert "accounts.csv, row 3: duplicate key 'A1' (also on row 2)" in problems
    assert any("row 2" in p and "no account 'Nowhere Inc'" in p for p in problems)


def test_a_dry_run_reports_the_same_and_writes_nothing(
    db: Engine, do_import: Import, org_files: list[Path]
) -> None:
    result = do_import(*org_files, dry_run=True)

    assert result.dry_run and not result.committed and result.problem_count == 0
    assert sum(s.created for s in result.files) == 11
    assert sum(counts(db).values()) == 0


def test_unknown_stages_list_the_pipelines_stages(
    db: Engine, do_import: Import, org_files: list[Path], write: Write
) -> None:
    files = [*org_files[:-1], write("deals.csv", DEALS.replace("Proposal", "Verbal OK"))]

    result = do_import(*files)

    problem = result.problems[0]
    assert (problem.row, problem.column) == (2, "stage")
    assert "no stage 'Verbal OK' in pipeline 'Sales' (Prospecting, Qualification" in problem.message


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("deals.csv", "name,amount\n", "no column for the required deals field(s) owner, stage"),
        ("accounts.csv", "name,domain\n", "the file has a header but no rows"),
        ("stuff.csv", "foo,bar\n1,2\n", "cannot tell which records it holds"),
        ("accounts.csv", "name,employees\nAcme,12\nGlobex,3,oops\n", "header names 2 columns"),
    ],
)
def test_files_that_cannot_be_imported_leave_the_database_unchanged(
    db: Engine, do_import: Import, write: Write, name: str, content: str, message: str
) -> None:
    path = write(name, content)
    try:
        result = do_import(path)
    except MappingError as exc:
        assert message in str(exc)
    else:
        assert not result.committed
        assert any(message in str(p) for p in result.problems), result.problems
    assert sum(counts(db).values()) == 0


def test_a_mapping_maps_values_builds_history_and_looks_up_amounts(
    db: Engine, do_import: Import, write: Write
) -> None:
    users = write("reps.csv", "rep\nAna Lopez\n")
    prices = write("prices.csv", "product,price\nWidget,250\n")
    deals = write(
        "opps.csv",
        "id,rep,product,status,opened,closed,value\n"
        "1,Ana Lopez,Widget,Open,03/02/2025,,\n"
        "2,Ana Lopez,Widget,Won,03/02/2025,04/15/2025,300\n"
        "3,Ana Lopez,Widget,Lost,04/02/2025,03/01/2025,0\n",
    )
    mapping = """
source: legacy
date_formats: ["%m/%d/%Y"]
lookups:
  prices: {file: prices.csv, key: product}
files:
  - file: reps.csv
    entity: users
    fields:
      name: rep
      email: {template: "{rep|slug}@legacy.example"}
  - file: opps.csv
    entity: deals
    auto: false
    fields:
      key: id
      name: {template: "{product} #{id}"}
      owner: rep
      stage: {column: status, map: {Open: Proposal, Won: Closed Won, Lost: Closed Lost}}
      amount:
        - {column: value, empty: ["0"]}
        - {lookup: prices, by: product, take: price}
      close_date: {column: closed, default: "2025-12-31"}
    history:
      - at: opened
        stage: {value: Proposal}
      - at: closed
"""
    result = do_import(users, prices, deals, mapping=mapping)

    # Deal 3 closed before it was opened: refused, naming the dates.
    assert [(p.row, p.message) for p in result.problems] == [
        (4, "history dates out of order: 2025-03-01 comes before 2025-04-02")
    ]
    result = do_import(
        users, prices, write("opps.csv", deals.read_text().replace("03/01/2025", "05/01/2025")),
        mapping=mapping,
    )  # fmt: skip
    assert result.committed, [str(p) for p in result.problems]
    with Session(db) as session:
        ana = session.scalars(select(User)).one()
        assert ana.email == "ana.lopez@legacy.example"
        deals_by_name = {d.name: d for d in session.scalars(select(Deal))}
        assert deals_by_name["Widget #1"].amount_cents == 25_000  # looked up
        assert deals_by_name["Widget #2"].amount_cents == 30_000
        assert deals_by_name["Widget #3"].amount_cents == 25_000  # "0" means none
        won = deals_by_name["Widget #2"]
        rows = session.execute(
            select(DealHistory.valid_from, Stage.name)
            .join(Stage, Stage.id == DealHistory.stage_id)
            .where(DealHistory.deal_id == won.id)
            .order_by(DealHistory.valid_from)
        ).all()
        assert rows == [
            (datetime(2025, 3, 2, tzinfo=UTC), "Proposal"),
            (datetime(2025, 4, 15, tzinfo=UTC), "Closed Won"),
        ]
        assert won.created_at == datetime(2025, 3, 2, tzinfo=UTC)
        assert won.closed_at == datetime(2025, 4, 15, tzinfo=UTC)
        # The imported history's stays: 44 days in Proposal, left for the won stage.
        assert assert_deal_stays(session) == 3  # one in Proposal per deal
        stay = session.scalars(select(DealStay).where(DealStay.deal_id == won.id)).one()
        assert (stay.entered_at, stay.left_at, stay.days, stay.advanced_at) == (
            datetime(2025, 3, 2, tzinfo=UTC),
            datetime(2025, 4, 15, tzinfo=UTC),
            44,
            datetime(2025, 4, 15, tzinfo=UTC),
        )


def test_leads_and_activities_link_to_what_was_imported(
    db: Engine, do_import: Import, org_files: list[Path], write: Write
) -> None:
    leads = write(
        "leads.csv",
        "lead id,name,email,company,lead source,status,budget,authority,need,owner\n"
        "L1,Lou Lead,lou@initech.example,Initech,Webinar,sql,yes,yes,no,rita@acme.example\n"
        "L2,Mo,mo@hooli.example,Hooli,,new,,,,\n",
    )
    activities = write(
        "activities.csv",
        "type,subject,date,user,opportunity,contact,lead,duration,opened\n"
        "call,Kick-off,2025-01-20 10:00,rita@acme.example,D1,C1,,30,\n"
        "email,Pricing,2025-01-21T09:00:00Z,Rita Rep,D1,,,,yes\n"
        "meeting,Intro,2025-01-22,ray@acme.example,,,L1,45,\n",
    )

    result = do_import(*org_files, leads, activities)

    assert result.committed, [str(p) for p in result.problems]
    with Session(db) as session:
        lou = session.scalars(select(Lead).where(Lead.email == "lou@initech.example")).one()
        assert (lou.first_name, lou.last_name, lou.status, lou.source) == (
            "Lou", "Lead", "sql", "Webinar",
        )  # fmt: skip
        assert (lou.bant_budget, lou.bant_authority, lou.bant_need) == (True, True, False)
        assert lou.mql_at is not None and lou.sql_at is not None
        mo = session.scalars(select(Lead).where(Lead.company == "Hooli")).one()
        assert (mo.first_name, mo.last_name, mo.source, mo.owner_id) == ("Mo", "", "import", None)
        deal = session.scalars(select(Deal).where(Deal.name == "Acme renewal")).one()
        logged = session.scalars(select(Activity).order_by(Activity.occurred_at)).all()
        assert [(a.type, a.deal_id, a.lead_id, a.email_opened) for a in logged] == [
            ("call", deal.id, None, None),
            ("email", deal.id, None, True),
            ("meeting", None, lou.id, None),
        ]
        assert logged[0].occurred_at == datetime(2025, 1, 20, 10, tzinfo=UTC)


def test_engagement_on_a_call_is_refused(db: Engine, do_import: Import, write: Write) -> None:
    users = write("users.csv", "email,name\nrita@acme.example,Rita\n")
    calls = write("activities.csv", "type,subject,date,user,replied\ncall,Hi,2025-01-20,Rita,yes\n")

    result = do_import(users, calls)

    assert [p.message for p in result.problems] == [
        "opened, clicked and replied apply to emails only"
    ]


def test_a_contact_or_lead_with_a_known_email_is_a_likely_duplicate(
    db: Engine, do_import: Import, write: Write
) -> None:
    accounts = write("accounts.csv", "account id,name\nA1,Acme\n")
    contacts = write("contacts.csv", "account,name,email\nA1,Ann Able,ann@acme.example\n")
    leads = write("leads.csv", "name,email,company\nLou Lead,lou@initech.example,Initech\n")
    assert do_import(accounts, contacts, leads).committed

    again = do_import(accounts, contacts, leads)

    assert not again.committed
    messages = sorted(p.message.split(" (")[0] for p in again.problems)
    assert messages == ["likely duplicate of contact 1", "likely duplicate of lead 1"]
    assert {p.column for p in again.problems} == {"email"}


def test_an_import_refreshes_the_statistics_of_the_tables_it_wrote_a_tenth_of(
    db: Engine, do_import: Import, org_files: list[Path], write: Write
) -> None:
    rows = [
        f"D{n},Deal {n},A1,,rita@acme.example,Proposal,{1000 + n},2025-06-30,2025-01-15"
        for n in range(40)
    ]
    deals = write("deals.csv", DEALS.splitlines()[0] + "\n" + "\n".join(rows) + "\n")
    first = do_import(*org_files[:-1], deals)
    with db.connect() as connection:
        counted = {table: analyzed_rows(connection, table) for table in ("deals", "deal_history")}

    one_changed = write("deals.csv", deals.read_text().replace(",1000,", ",900,"))
    second = do_import(*org_files[:-1], one_changed)

    assert first.committed and second.committed
    assert {"deals", "deal_history", "accounts", "external_ids"} <= set(first.analyzed_tables)
    assert counted == {"deals": 40, "deal_history": 40}
    assert next(s for s in second.files if s.entity == "deals").updated == 1
    assert second.analyzed_tables == []  # 1 deal and 1 history row: not a tenth of 40
