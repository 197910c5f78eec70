"""A whole Salesforce Data Export imports with the `salesforce` preset: leads with their
conversion, deals with the history OpportunityHistory.csv gives them, tasks and events linked
to the records their WhoId and WhatId name, idempotent re-imports and per-row problems.

The files are written the way the export writes them: every value quoted, `""` for empty,
18-character Ids, datetimes in UTC with milliseconds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, aliased

from tests.helpers import assert_deal_pushes, assert_history_marks
from tests.importers.helpers import counts
from topline.auth.models import User
from topline.crm.history import DealState, replay
from topline.crm.models import Account, Activity, Contact, Deal, DealHistory, Lead, Stage
from topline.importers.engine import ImportResult
from topline.importers.mapping import MappingError, load_mapping, parse_mapping
from topline.importers.models import ExternalId

Write = Callable[[str, str | bytes], Path]
Import = Callable[..., ImportResult]

BOSS, REP = "005Hs00000Bq1XaIAJ", "005Hs00000Bq1XbIAJ"
QUEUE = "00GHs000003AbCdMAF"
ACME, GLOBEX = "001Hs00002Kx7PqIAJ", "001Hs00002Kx7PrIAJ"
ANN, LOU_CONTACT = "003Hs00001Zt9LmIAJ", "003Hs00001Zt9LnIAJ"
LOU, MO, NED = "00QHs00000Pq3RsMAJ", "00QHs00000Pq3RtMAJ", "00QHs00000Pq3RuMAJ"
SEATS, SUPPORT, PILOT = "006Hs00000Xy1AbIAJ", "006Hs00000Xy1AcIAJ", "006Hs00000Xy1AdIAJ"
CASE = "500Hs00001Ab2CdIAJ"


def export(*rows: dict[str, str]) -> str:
    """A Data Export CSV: the header, then every value quoted."""

    def line(values: Any) -> str:
        return ",".join('"' + str(value).replace('"', '""') + '"' for value in values)

    return "\n".join([line(rows[0]), *(line(row.values()) for row in rows)]) + "\n"


USERS = [
    {"Id": BOSS, "Username": "bo@sf.example.prod", "LastName": "Boss", "FirstName": "Bo",
     "Name": "Bo Boss", "Email": "bo@sf.example", "IsActive": "true", "ManagerId": "",
     "CreatedDate": "2020-01-06T08:00:00.000Z"},
    {"Id": REP, "Username": "rita@sf.example.prod", "LastName": "Rep", "FirstName": "Rita",
     "Name": "Rita Rep", "Email": "rita@sf.example", "IsActive": "true", "ManagerId": BOSS,
     "CreatedDate": "2021-05-03T08:00:00.000Z"},
]  # fmt: skip
ACCOUNTS = [
    {"Id": ACME, "IsDeleted": "false", "Name": "Acme", "Type": "Customer", "ParentId": "",
     "BillingState": "CA", "BillingPostalCode": "94105", "BillingCountry": "United States",
     "BillingCountryCode": "US", "Website": "acme.example", "Industry": "Technology",
     "AnnualRevenue": "5000000", "NumberOfEmployees": "250", "OwnerId": REP,
     "CreatedDate": "2022-02-02T10:00:00.000Z"},
    {"Id": GLOBEX, "IsDeleted": "false", "Name": "Globex", "Type": "Prospect", "ParentId": "",
     "BillingState": "", "BillingPostalCode": "", "BillingCountry": "", "BillingCountryCode": "",
     "Website": "globex.example", "Industry": "", "AnnualRevenue": "", "NumberOfEmployees": "",
     "OwnerId": BOSS, "CreatedDate": "2025-01-20T08:00:00.000Z"},
]  # fmt: skip
CONTACTS = [
    {"Id": ANN, "IsDeleted": "false", "AccountId": ACME, "LastName": "Able", "FirstName": "Ann",
     "Salutation": "Ms.", "Email": "ann@acme.example", "Phone": "+1 415 555 0101",
     "Title": "CFO", "OwnerId": REP, "CreatedDate": "2022-02-03T10:00:00.000Z"},
    {"Id": LOU_CONTACT, "IsDeleted": "false", "AccountId": GLOBEX, "LastName": "Lead",
     "FirstName": "Lou", "Salutation": "", "Email": "lou@globex.example", "Phone": "",
     "Title": "", "OwnerId": BOSS, "CreatedDate": "2025-01-20T08:00:00.000Z"},
]  # fmt: skip
LEADS = [
    {"Id": LOU, "IsDeleted": "false", "LastName": "Lead", "FirstName": "Lou", "Title": "COO",
     "Company": "Globex", "State": "", "CountryCode": "", "Phone": "", "MobilePhone": "",
     "Email": "lou@globex.example", "Website": "", "LeadSource": "Web",
     "Status": "Closed - Converted", "Industry": "", "Rating": "Hot", "NumberOfEmployees": "",
     "OwnerId": BOSS, "IsConverted": "true", "ConvertedDate": "2025-01-20",
     "ConvertedAccountId": GLOBEX, "ConvertedContactId": LOU_CONTACT,
     "ConvertedOpportunityId": PILOT, "CreatedDate": "2025-01-20T07:30:00.000Z"},
    {"Id": MO, "IsDeleted": "false", "LastName": "Moss", "FirstName": "Mo", "Title": "",
     "Company": "Hooli", "State": "CA", "CountryCode": "US", "Phone": "",
     "MobilePhone": "+1 650 555 0199", "Email": "mo@hooli.example", "Website": "hooli.example",
     "LeadSource": "Partner Referral", "Status": "Working - Contacted", "Industry": "Media",
     "Rating": "Warm", "NumberOfEmployees": "1200", "OwnerId": QUEUE, "IsConverted": "false",
     "ConvertedDate": "", "ConvertedAccountId": "", "ConvertedContactId": "",
     "ConvertedOpportunityId": "", "CreatedDate": "2025-01-12T10:00:00.000Z"},
    {"Id": NED, "IsDeleted": "false", "LastName": "Nolan", "FirstName": "Ned", "Title": "",
     "Company": "Initech", "State": "", "CountryCode": "", "Phone": "", "MobilePhone": "",
     "Email": "", "Website": "", "LeadSource": "Trade Show",
     "Status": "Closed - Not Converted", "Industry": "", "Rating": "Cold",
     "NumberOfEmployees": "40", "OwnerId": REP, "IsConverted": "false", "ConvertedDate": "",
     "ConvertedAccountId": "", "ConvertedContactId": "", "ConvertedOpportunityId": "",
     "CreatedDate": "2025-02-01T12:00:00.000Z"},
]  # fmt: skip
OPPORTUNITIES = [
    {"Id": SEATS, "IsDeleted": "false", "AccountId": ACME, "Name": "Acme - 250 seats",
     "StageName": "Proposal/Price Quote", "Amount": "30000", "Probability": "70",
     "CloseDate": "2025-06-30", "Type": "New Customer", "NextStep": "Send the quote",
     "LeadSource": "Web", "IsClosed": "false", "IsWon": "false", "ForecastCategory": "BestCase",
     "ForecastCategoryName": "Best Case", "ContactId": ANN, "OwnerId": REP,
     "CreatedDate": "2025-01-10T09:00:00.000Z"},
    {"Id": SUPPORT, "IsDeleted": "false", "AccountId": ACME, "Name": "Acme - support",
     "StageName": "Closed Won", "Amount": "", "Probability": "100", "CloseDate": "2025-02-20",
     "Type": "Existing Customer - Upgrade", "NextStep": "", "LeadSource": "Partner",
     "IsClosed": "true", "IsWon": "true", "ForecastCategory": "Closed",
     "ForecastCategoryName": "Closed", "ContactId": "", "OwnerId": REP,
     "CreatedDate": "2024-12-01T09:00:00.000Z"},
    {"Id": PILOT, "IsDeleted": "false", "AccountId": GLOBEX, "Name": "Globex pilot",
     "StageName": "Closed Lost", "Amount": "12000", "Probability": "0",
     "CloseDate": "2025-03-15", "Type": "New Customer", "NextStep": "", "LeadSource": "Web",
     "IsClosed": "true", "IsWon": "false", "ForecastCategory": "Omitted",
     "ForecastCategoryName": "Omitted", "ContactId": LOU_CONTACT, "OwnerId": BOSS,
     "CreatedDate": "2025-01-20T11:00:00.000Z"},
]  # fmt: skip


def history_row(
    row_id: str, opportunity: str, stage: str, amount: str, close: str, category: str,
    probability: str, at: str, by: str,
) -> dict[str, str]:  # fmt: skip
    return {
        "Id": row_id, "OpportunityId": opportunity, "CreatedById": by, "CreatedDate": at,
        "StageName": stage, "Amount": amount, "ExpectedRevenue": "", "CloseDate": close,
        "Probability": probability, "ForecastCategory": category, "IsDeleted": "false",
        "SystemModstamp": at,
    }  # fmt: skip


# Not in time order, as an export may give them; two rows in one second (the later in the file
# holds) and one for a probability change alone (no change Topline tracks).
HISTORY = [
    history_row("008Hs00000Ab1C3IAJ", SEATS, "Proposal/Price Quote", "30000", "2025-06-30",
                "BestCase", "75", "2025-03-01T10:00:00.000Z", REP),
    history_row("008Hs00000Ab1C1IAJ", SEATS, "Prospecting", "25000", "2025-05-31",
                "Pipeline", "10", "2025-01-10T09:00:00.000Z", REP),
    history_row("008Hs00000Ab1C2IAJ", SEATS, "Needs Analysis", "25000", "2025-05-31",
                "Pipeline", "20", "2025-02-03T14:30:00.000Z", REP),
    history_row("008Hs00000Ab1C9IAJ", SEATS, "Value Proposition", "25000", "2025-05-31",
                "Pipeline", "50", "2025-02-03T14:30:00.000Z", BOSS),
    history_row("008Hs00000Ab1C4IAJ", SEATS, "Proposal/Price Quote", "30000", "2025-06-30",
                "BestCase", "70", "2025-03-05T08:00:00.000Z", REP),
    history_row("008Hs00000Ab1C5IAJ", SUPPORT, "Qualification", "", "2025-02-28", "Pipeline",
                "20", "2024-12-01T09:00:00.000Z", BOSS),
    history_row("008Hs00000Ab1C6IAJ", SUPPORT, "Closed Won", "", "2025-02-20", "Closed", "100",
                "2025-02-20T16:45:00.000Z", REP),
]  # fmt: skip


def task(
    row_id: str, who: str, what: str, account: str, subtype: str, kind: str, subject: str,
    status: str, due: str, completed: str, disposition: str = "",
) -> dict[str, str]:  # fmt: skip
    return {
        "Id": row_id, "WhoId": who, "WhatId": what, "Subject": subject, "ActivityDate": due,
        "Status": status, "Priority": "Normal", "OwnerId": REP, "Description": "",
        "Type": kind, "IsDeleted": "false", "AccountId": account,
        "IsClosed": "true" if status == "Completed" else "false",
        "CreatedDate": "2025-01-02T00:00:00.000Z", "CallDurationInSeconds": "",
        "CallDisposition": disposition, "TaskSubtype": subtype, "CompletedDateTime": completed,
    }  # fmt: skip


TASKS = [
    task("00THs00003Ab1C1MAJ", ANN, SEATS, ACME, "Call", "Call", "Pricing call", "Completed",
         "2025-02-03", "2025-02-03T15:00:00.000Z", "Interested"),
    task("00THs00003Ab1C2MAJ", MO, "", "", "Email", "Email", "Intro email", "Completed",
         "2025-01-15", ""),
    task("00THs00003Ab1C3MAJ", "", ACME, ACME, "Task", "", "Send contract", "Not Started",
         "2025-07-01", ""),
    task("00THs00003Ab1C4MAJ", LOU_CONTACT, CASE, GLOBEX, "Task", "Call", "", "Completed",
         "2025-02-12", "2025-02-12T11:20:00.000Z"),
]  # fmt: skip


def event(
    row_id: str, who: str, what: str, account: str, subject: str, start: str, minutes: str,
    owner: str,
) -> dict[str, str]:  # fmt: skip
    return {
        "Id": row_id, "WhoId": who, "WhatId": what, "Subject": subject, "Location": "",
        "IsAllDayEvent": "false", "ActivityDateTime": start, "ActivityDate": start[:10],
        "DurationInMinutes": minutes, "StartDateTime": start, "EndDateTime": "",
        "Description": "", "AccountId": account, "OwnerId": owner, "Type": "Meeting",
        "IsChild": "false", "IsDeleted": "false", "CreatedDate": "2025-01-02T00:00:00.000Z",
    }  # fmt: skip


EVENTS = [
    event("00UHs00000Ab1C1MAJ", ANN, SEATS, ACME, "Demo", "2025-02-10T15:00:00.000Z", "60", REP),
    event("00UHs00000Ab1C2MAJ", LOU, "", "", "Intro", "2025-01-20T09:00:00.000Z", "30", BOSS),
]


def export_files(write: Write, **changed: list[dict[str, str]]) -> list[Path]:
    """The export's files, with `changed` (by object name) instead of the standard rows."""
    objects = {
        "User": USERS, "Account": ACCOUNTS, "Contact": CONTACTS, "Lead": LEADS,
        "Opportunity": OPPORTUNITIES, "OpportunityHistory": HISTORY, "Task": TASKS,
        "Event": EVENTS,
    }  # fmt: skip
    objects.update(changed)
    return [write(f"{name}.csv", export(*rows)) for name, rows in objects.items() if rows]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def history_of(db: Engine, deal_name: str) -> list[tuple[Any, ...]]:
    """The deal's history: from, to, stage, amount, close date, category, changes, by whom."""
    changed_by = aliased(User)
    with Session(db) as session:
        rows = session.execute(
            select(DealHistory.valid_from, DealHistory.valid_to, Stage.name,
                   DealHistory.amount_cents, DealHistory.close_date,
                   DealHistory.forecast_category, DealHistory.changed_fields, changed_by.email)
            .join(Deal, Deal.id == DealHistory.deal_id)
            .join(Stage, Stage.id == DealHistory.stage_id)
            .outerjoin(changed_by, changed_by.id == DealHistory.changed_by_id)
            .where(Deal.name == deal_name)
            .order_by(DealHistory.valid_from)
        ).all()  # fmt: skip
    return [tuple(row) for row in rows]


SEATS_HISTORY = [
    (utc("2025-01-10T09:00"), utc("2025-02-03T14:30"), "Prospecting", 2_500_000,
     date(2025, 5, 31), "pipeline", "created", "rita@sf.example"),
    (utc("2025-02-03T14:30"), utc("2025-03-01T10:00"), "Discovery", 2_500_000,
     date(2025, 5, 31), "pipeline", "stage", "bo@sf.example"),
    (utc("2025-03-01T10:00"), None, "Proposal", 3_000_000, date(2025, 6, 30), "best_case",
     "stage,amount,close_date,forecast_category", "rita@sf.example"),
]  # fmt: skip


def test_a_data_export_imports_with_its_history_and_activities(
    db: Engine, do_import: Import, write: Write
) -> None:
    campaigns = write("Campaign.csv", export({"Id": "701Hs000001AbCdIAK", "Name": "Webinar"}))

    result = do_import(*export_files(write), campaigns, mapping=load_mapping("salesforce"))

    assert result.committed, [str(p) for p in result.problems]
    assert [str(w) for w in result.warnings] == [
        "Campaign.csv: not read (the mapping says nothing about this file)"
    ]
    summary = {s.file: (s.rows, s.created, s.rejected) for s in result.files}
    assert summary["OpportunityHistory.csv"] == (7, 7, 0)
    assert summary["Task.csv"] == (4, 4, 0) and summary["Event.csv"] == (2, 2, 0)
    assert result.history_rows == counts(db)["deal_history"] == 6

    # History from OpportunityHistory.csv: in time order, one row per moment, none for a change
    # of probability alone, the deal's owner throughout.
    assert history_of(db, "Acme - 250 seats") == SEATS_HISTORY
    assert history_of(db, "Acme - support") == [
        (utc("2024-12-01T09:00"), utc("2025-02-20T16:45"), "Qualification", 0,
         date(2025, 2, 28), "pipeline", "created", "bo@sf.example"),
        (utc("2025-02-20T16:45"), None, "Closed Won", 0, date(2025, 2, 20), "closed",
         "stage,close_date,forecast_category", "rita@sf.example"),
    ]  # fmt: skip
    # A deal the history file does not name keeps the history made from its own dates.
    assert history_of(db, "Globex pilot") == [
        (utc("2025-01-20T11:00"), None, "Closed Lost", 1_200_000, date(2025, 3, 15), "omitted",
         "created", None),
    ]  # fmt: skip
    with Session(db) as session:
        users = dict(session.execute(select(User.id, User.email)).all())
        deals = {deal.name: deal for deal in session.scalars(select(Deal).order_by(Deal.id))}
        for deal in deals.values():
            rows = session.scalars(select(DealHistory).where(DealHistory.deal_id == deal.id))
            assert replay(list(rows)) == DealState.of(deal), deal.name
            assert users[deal.owner_id] == ("bo@sf.example" if deal.name == "Globex pilot"
                                            else "rita@sf.example")  # fmt: skip
        assert [(d.created_at, d.closed_at) for d in deals.values()] == [
            (utc("2025-01-10T09:00"), None),
            (utc("2024-12-01T09:00"), utc("2025-02-20T16:45")),  # when its history closed it
            (utc("2025-01-20T11:00"), utc("2025-01-20T11:00")),
        ]
        seats = deals["Acme - 250 seats"]
        ann = session.scalars(select(Contact).where(Contact.email == "ann@acme.example")).one()
        assert (seats.contact_id, seats.forecast_category, seats.next_step) == (
            ann.id, "best_case", "Send the quote",
        )  # fmt: skip

        converted_account = aliased(Account)
        converted_contact = aliased(Contact)
        converted_deal = aliased(Deal)
        owner = aliased(User)
        leads = session.execute(
            select(Lead.first_name, Lead.last_name, Lead.company, Lead.email, Lead.phone,
                   Lead.country, Lead.region, Lead.employees, Lead.source, Lead.status,
                   owner.email, Lead.created_at, Lead.mql_at, Lead.converted_at,
                   Lead.disqualified_at, converted_account.name, converted_contact.email,
                   converted_deal.name)
            .outerjoin(owner, owner.id == Lead.owner_id)
            .outerjoin(converted_account, converted_account.id == Lead.converted_account_id)
            .outerjoin(converted_contact, converted_contact.id == Lead.converted_contact_id)
            .outerjoin(converted_deal, converted_deal.id == Lead.converted_deal_id)
            .order_by(Lead.created_at)
        ).all()  # fmt: skip
        assert [tuple(lead) for lead in leads] == [
            # Owned by a queue: no owner in Topline.
            ("Mo", "Moss", "Hooli", "mo@hooli.example", "+1 650 555 0199", "US", "CA", 1200,
             "Partner Referral", "working", None, utc("2025-01-12T10:00"), None, None, None,
             None, None, None),
            # Converted "on 2025-01-20", which began before it was created that morning.
            ("Lou", "Lead", "Globex", "lou@globex.example", None, None, None, None, "Web",
             "converted", "bo@sf.example", utc("2025-01-20T07:30"), utc("2025-01-20T07:30"),
             utc("2025-01-20T07:30"), None, "Globex", "lou@globex.example", "Globex pilot"),
            ("Ned", "Nolan", "Initech", None, None, None, None, 40, "Trade Show",
             "disqualified", "rita@sf.example", utc("2025-02-01T12:00"), None, None,
             utc("2025-02-01T12:00"), None, None, None),
        ]  # fmt: skip

        contact, lead, deal, account, user = (aliased(m) for m in (Contact, Lead, Deal, Account,
                                                                     User))  # fmt: skip
        activities = session.execute(
            select(Activity.type, Activity.subject, Activity.occurred_at, user.email,
                   deal.name, contact.email, lead.email, account.name,
                   Activity.duration_minutes, Activity.outcome)
            .join(user, user.id == Activity.user_id)
            .outerjoin(deal, deal.id == Activity.deal_id)
            .outerjoin(contact, contact.id == Activity.contact_id)
            .outerjoin(lead, lead.id == Activity.lead_id)
            .outerjoin(account, account.id == Activity.account_id)
            .order_by(Activity.occurred_at)
        ).all()  # fmt: skip
    assert [tuple(a) for a in activities] == [
        ("email", "Intro email", utc("2025-01-15T00:00"), "rita@sf.example", None, None,
         "mo@hooli.example", None, None, "Completed"),
        ("meeting", "Intro", utc("2025-01-20T09:00"), "bo@sf.example", None, None,
         "lou@globex.example", None, 30, None),
        ("call", "Pricing call", utc("2025-02-03T15:00"), "rita@sf.example", "Acme - 250 seats",
         "ann@acme.example", None, "Acme", None, "Interested"),
        ("meeting", "Demo", utc("2025-02-10T15:00"), "rita@sf.example", "Acme - 250 seats",
         "ann@acme.example", None, "Acme", 60, None),
        # About a case: linked to its contact and account only.
        ("call", "(no subject)", utc("2025-02-12T11:20"), "rita@sf.example", None,
         "lou@globex.example", None, "Globex", None, "Completed"),
        ("task", "Send contract", utc("2025-07-01T00:00"), "rita@sf.example", None, None, None,
         "Acme", None, "Not Started"),
    ]  # fmt: skip


def test_re_importing_the_export_changes_nothing(
    db: Engine, do_import: Import, write: Write
) -> None:
    files = export_files(write)
    assert do_import(*files, mapping=load_mapping("salesforce")).committed
    before = counts(db)
    with Session(db) as session:
        history_ids = session.scalars(select(DealHistory.id).order_by(DealHistory.id)).all()

    again = do_import(*files, mapping=load_mapping("salesforce"))

    assert again.committed and again.warnings == []
    assert counts(db) == {**before, "audit_log": before["audit_log"] + 1}
    assert all(s.created == 0 and s.updated == 0 for s in again.files), again.files
    assert again.history_rows == 0
    with Session(db) as session:
        assert session.scalars(select(DealHistory.id).order_by(DealHistory.id)).all() == (
            history_ids
        )
    # Users, accounts, contacts, leads, deals, history rows, tasks and events by their Ids.
    assert before["external_ids"] == 2 + 2 + 2 + 3 + 3 + 7 + 4 + 2


def test_a_later_export_extends_the_history_without_duplicating_it(
    db: Engine, do_import: Import, write: Write
) -> None:
    assert do_import(*export_files(write), mapping=load_mapping("salesforce")).committed
    # A deal that moved on, and after it in the file a new one.
    moved = [
        {**row, "StageName": "Negotiation/Review", "ForecastCategoryName": "Commit"}
        if row["Id"] == SEATS else row
        for row in OPPORTUNITIES
    ] + [{**OPPORTUNITIES[0], "Id": "006Hs00000Xy1AeIAJ", "Name": "Acme - training",
          "CreatedDate": "2025-04-03T09:00:00.000Z"}]  # fmt: skip
    negotiation = history_row(
        "008Hs00000Ab1C7IAJ", SEATS, "Negotiation/Review", "30000", "2025-06-30", "Forecast",
        "90", "2025-04-02T13:00:00.000Z", BOSS,
    )  # fmt: skip

    result = do_import(
        *export_files(write, Opportunity=moved, OpportunityHistory=[*HISTORY, negotiation]),
        mapping=load_mapping("salesforce"),
    )

    assert result.committed, [str(p) for p in result.problems]
    history = next(s for s in result.files if s.entity == "deal_history")
    assert (history.created, history.updated, history.unchanged) == (1, 5, 2)
    assert history_of(db, "Acme - 250 seats") == [
        *SEATS_HISTORY[:2],
        (*SEATS_HISTORY[2][:1], utc("2025-04-02T13:00"), *SEATS_HISTORY[2][2:]),
        (utc("2025-04-02T13:00"), None, "Negotiation", 3_000_000, date(2025, 6, 30), "commit",
         "stage,forecast_category", "bo@sf.example"),
    ]  # fmt: skip
    with Session(db) as session:
        keys = session.execute(
            select(ExternalId.key, ExternalId.record_id).where(ExternalId.entity == "deal_history")
        ).all()
        history_ids = set(session.scalars(select(DealHistory.id)))
    assert len(keys) == 8 and {record_id for _, record_id in keys} <= history_ids
    assert counts(db)["deal_history"] == 4 + 2 + 1 + 1
    assert result.history_rows == 1 + 4  # the new deal's, and the moved deal's anew
    with Session(db) as session:
        assert assert_history_marks(session) == 4 + 2 + 1 + 1
        assert_deal_pushes(session)


def test_bad_references_and_dates_are_problems_of_their_rows(
    db: Engine, do_import: Import, write: Write
) -> None:
    unknown_deal = history_row(
        "008Hs00000Ab1C8IAJ", "006Hs00000Zz9ZzIAJ", "Prospecting", "10", "2025-05-31",
        "Pipeline", "10", "2025-01-11T09:00:00.000Z", REP,
    )  # fmt: skip
    too_early = history_row(
        "008Hs00000Ab1CAIAJ", SEATS, "Prospecting", "10", "2025-05-31", "Pipeline", "10",
        "2025-01-09T09:00:00.000Z", REP,
    )  # fmt: skip
    unknown_stage = history_row(
        "008Hs00000Ab1CBIAJ", SEATS, "Verbal OK", "10", "2025-05-31", "Pipeline", "10",
        "2025-01-11T09:00:00.000Z", REP,
    )  # fmt: skip
    tasks = [*TASKS, task("00THs00003Ab1C5MAJ", "003Hs00009Zz9ZzIAJ", "", "", "Call", "Call",
                          "Who?", "Completed", "2025-02-03", "")]  # fmt: skip
    events = [*EVENTS, event("00UHs00000Ab1C3MAJ", "", "006Hs00000Zz9ZzIAJ", "", "Lunch",
                             "2025-02-11T12:00:00.000Z", "45", REP)]  # fmt: skip
    leads = [*LEADS[:2], {**LEADS[2], "ConvertedDate": "2025-02-02"}]
    files = export_files(write, OpportunityHistory=[*HISTORY, unknown_deal, too_early,
                                                    unknown_stage],
                         Task=tasks, Event=events, Lead=leads)  # fmt: skip
    before = counts(db)

    result = do_import(*files, mapping=load_mapping("salesforce"))

    assert not result.committed
    assert counts(db) == before
    assert [(p.file, p.row, p.column, p.message) for p in result.problems] == [
        ("Lead.csv", 4, "ConvertedDate",
         "a conversion date for a lead that is disqualified, not converted"),
        ("OpportunityHistory.csv", 9, "OpportunityId",
         "no deal '006Hs00000Zz9ZzIAJ' (not in this import nor in Topline)"),
        ("OpportunityHistory.csv", 10, "CreatedDate",
         "dated 2025-01-09 09:00, before the deal was created (2025-01-10 09:00)"),
        ("OpportunityHistory.csv", 11, "StageName",
         "no stage 'Verbal OK' in pipeline 'Sales' (Prospecting, Qualification, Discovery, "
         "Proposal, Negotiation, Closed Won, Closed Lost); map it in the mapping"),
        ("Task.csv", 6, "WhoId", "no contact '003Hs00009Zz9ZzIAJ' (not in this import nor in "
         "Topline)"),
        ("Event.csv", 4, "WhatId", "no deal '006Hs00000Zz9ZzIAJ' (not in this import nor in "
         "Topline)"),
    ]  # fmt: skip


def test_with_keep_valid_a_deal_gets_its_history_from_the_valid_rows(
    db: Engine, do_import: Import, write: Write
) -> None:
    unknown_user = history_row(
        "008Hs00000Ab1C8IAJ", SEATS, "Qualification", "25000", "2025-05-31", "Pipeline", "15",
        "2025-01-20T09:00:00.000Z", "005Hs00000Zz9ZzIAJ",
    )  # fmt: skip

    result = do_import(
        *export_files(write, OpportunityHistory=[*HISTORY, unknown_user]),
        mapping=load_mapping("salesforce"),
        keep_valid=True,
    )

    assert result.committed
    assert [(p.row, p.column) for p in result.problems] == [(9, "CreatedById")]
    assert history_of(db, "Acme - 250 seats") == SEATS_HISTORY


def test_a_history_that_ends_elsewhere_than_the_deal_ends_in_the_deals_state(
    db: Engine, do_import: Import, write: Write
) -> None:
    won = [
        {**row, "StageName": "Closed Won", "ForecastCategoryName": "Closed"}
        if row["Id"] == SEATS else row
        for row in OPPORTUNITIES
    ]  # fmt: skip
    now = utc("2025-06-01T12:00")

    result = do_import(
        *export_files(write, Opportunity=won), mapping=load_mapping("salesforce"), now=now
    )

    assert result.committed, [str(p) for p in result.problems]
    assert [str(w) for w in result.warnings] == [
        "OpportunityHistory.csv: deal '006Hs00000Xy1AbIAJ': its history ends with another "
        "stage, forecast_category than the deal has; the deal's is recorded from 2025-06-01 "
        "12:00"
    ]
    assert history_of(db, "Acme - 250 seats") == [
        *SEATS_HISTORY[:2],
        (*SEATS_HISTORY[2][:1], now, *SEATS_HISTORY[2][2:]),
        (now, None, "Closed Won", 3_000_000, date(2025, 6, 30), "closed",
         "stage,forecast_category", None),
    ]  # fmt: skip
    with Session(db) as session:
        deal = session.scalars(select(Deal).where(Deal.name == "Acme - 250 seats")).one()
        assert deal.closed_at == now


def test_a_prefix_goes_with_a_column_or_a_template() -> None:
    with pytest.raises(MappingError, match="`prefix` goes with a column or a template"):
        parse_mapping(
            "source: x\nfiles:\n  - file: t.csv\n    entity: activities\n"
            "    fields: {lead: {value: 00Q1, prefix: 00Q}}\n"
        )
