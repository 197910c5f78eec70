"""The `hubspot` and `pipedrive` presets import those CRMs' leads and activities along with
their companies, contacts and deals: statuses and activity types mapped onto Topline's,
activities linked to the right records, idempotent re-imports and per-row problems.

The files carry the headers the exports write (HubSpot's property labels, Pipedrive's
"Entity - Field" columns or the Leads Inbox's bare ones)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, aliased

from tests.importers.helpers import counts
from topline.auth.models import User
from topline.crm.models import Account, Activity, Contact, Deal, Lead
from topline.importers.engine import ImportResult
from topline.importers.mapping import load_mapping

Write = Callable[[str, str | bytes], Path]
Import = Callable[..., ImportResult]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def add_user(db: Engine, email: str, name: str) -> None:
    with Session(db) as session:
        session.add(User(email=email, name=name, role="rep", hired_at=utc("2024-01-01"),
                         created_at=utc("2024-01-01")))  # fmt: skip
        session.commit()


def leads(db: Engine) -> list[tuple[Any, ...]]:
    """Each lead: name, company, email, status, source, owner, created, mql, converted,
    disqualified."""
    owner = aliased(User)
    with Session(db) as session:
        rows = session.execute(
            select(Lead.first_name, Lead.last_name, Lead.company, Lead.email, Lead.status,
                   Lead.source, owner.email, Lead.created_at, Lead.mql_at, Lead.converted_at,
                   Lead.disqualified_at)
            .outerjoin(owner, owner.id == Lead.owner_id)
            .order_by(Lead.created_at)
        ).all()  # fmt: skip
    return [tuple(row) for row in rows]


def activities(db: Engine) -> list[tuple[Any, ...]]:
    """Each activity: type, subject, when, by whom, deal, contact, lead, account, outcome,
    body."""
    user, deal, contact = aliased(User), aliased(Deal), aliased(Contact)
    lead, account = aliased(Lead), aliased(Account)
    with Session(db) as session:
        rows = session.execute(
            select(Activity.type, Activity.subject, Activity.occurred_at, user.email, deal.name,
                   contact.email, lead.company, account.name, Activity.outcome, Activity.body)
            .join(user, user.id == Activity.user_id)
            .outerjoin(deal, deal.id == Activity.deal_id)
            .outerjoin(contact, contact.id == Activity.contact_id)
            .outerjoin(lead, lead.id == Activity.lead_id)
            .outerjoin(account, account.id == Activity.account_id)
            .order_by(Activity.occurred_at)
        ).all()  # fmt: skip
    return [tuple(row) for row in rows]


def assert_re_import_changes_nothing(db: Engine, do_import: Import, files: list[Path],
                                     preset: str) -> None:  # fmt: skip
    before = counts(db)

    again = do_import(*files, mapping=load_mapping(preset))

    assert again.committed and again.problems == []
    assert counts(db) == {**before, "audit_log": before["audit_log"] + 1}
    assert all(s.created == 0 and s.updated == 0 for s in again.files), again.files


# --- HubSpot -----------------------------------------------------------------------------------

HUBSPOT_DAY = "2025-03-01"


def hubspot_files(write: Write, leads_rows: str = "") -> list[Path]:
    def name(what: str) -> str:
        return f"hubspot-crm-exports-{what}-{HUBSPOT_DAY}.csv"

    return [
        write(name("all-companies"),
              "Record ID,Company name,Company Domain Name,Industry,Company owner\n"
              "101,Globex,globex.example,RETAIL,Ana Lopez\n"
              "102,Initrode,initrode.example,,Ana Lopez\n"),
        write(name("all-contacts"),
              "Record ID,First Name,Last Name,Email,Job Title,Associated Company\n"
              "201,Gus,Grant,gus@globex.example,CTO,Globex\n"
              "202,Ivy,Innes,ivy@initrode.example,,Initrode\n"),
        write(name("all-deals"),
              "Record ID,Deal Name,Deal Stage,Amount,Close Date,Deal owner,Create Date,"
              "Associated Company\n"
              "301,Globex rollout,Contract Sent,12500,2025-04-30,Ana Lopez,2025-01-05 13:20,"
              "Globex\n"),
        # A view of lead-stage contacts, saved as "Leads".
        write(name("leads"),
              "Record ID,First Name,Last Name,Email,Phone Number,Job Title,Company Name,"
              "Lifecycle Stage,Lead Status,Contact owner,Create Date,Original Traffic Source\n"
              "401,Hana,Holt,hana@hooli.example,+1 650 555 0100,VP Sales,Hooli,Lead,New,"
              "Ana Lopez,2025-01-10 09:00,Organic Search\n"
              "402,Ivo,Ivanov,ivo@vandelay.example,,,Vandelay,Marketing Qualified Lead,"
              "Attempted to Contact,Ana Lopez,2025-01-11 09:00,Paid Social\n"
              "403,Jo,Jones,jo@umbrella.example,,,Umbrella,Sales Qualified Lead,Unqualified,,"
              "2025-01-12 09:00,Direct Traffic\n"
              "404,Kim,Kurz,kim@soylent.example,,,Soylent,Lead,In Progress,Ana Lopez,"
              "2025-01-13 09:00,Referrals\n"
              "405,Lea,Lund,lea@acme.example,,,Acme,Opportunity,Connected,Ana Lopez,"
              "2025-01-14 09:00,Offline Sources\n" + leads_rows),
        write(name("all-calls"),
              "Record ID,Call Title,Activity date,Activity assigned to,Call notes,Call outcome,"
              "Call direction,Call duration,Associated Contact IDs,Associated Company IDs,"
              "Associated Deal IDs\n"
              "501,Pricing call,2025-02-03 15:00,Ana Lopez,Wants 250 seats,Connected,Outbound,"
              "00:12:30,201,101,301\n"
              "502,Intro call,2025-02-04 10:00,ana@hub.example,,Left voicemail,Outbound,,202,"
              "102,\n"),
        write(name("all-meetings"),
              "Record ID,Meeting name,Meeting start time,Meeting end time,Activity assigned to,"
              "Meeting description,Meeting outcome,Associated Contact IDs,"
              "Associated Company IDs,Associated Deal IDs\n"
              "601,Demo,2025-02-10 15:00,2025-02-10 16:00,Ana Lopez,Full product tour,"
              "Completed,201,101,301\n"),
        write(name("all-tasks"),
              "Record ID,Task title,Due date,Task status,Task type,Priority,"
              "Activity assigned to,Task notes,Associated Contact IDs,Associated Company IDs,"
              "Associated Deal IDs\n"
              "701,Send contract,2025-07-01 09:00,Not started,To-do,High,Ana Lopez,,,101,301\n"),
        # The Activities export: every kind in one file.
        write(name("all-activities"),
              "Record ID,Activity type,Activity date,Activity assigned to,Body preview,"
              "Associated Contact IDs,Associated Company IDs,Associated Deal IDs\n"
              "801,NOTE,2025-02-04 09:00,Ana Lopez,Budget approved,201,101,301\n"
              "802,INCOMING_EMAIL,2025-02-05 08:30,Ana Lopez,Re: quote,202,102,\n"),
    ]  # fmt: skip


def test_hubspot_leads_and_activities(db: Engine, do_import: Import, write: Write) -> None:
    add_user(db, "ana@hub.example", "Ana Lopez")
    files = hubspot_files(write)

    result = do_import(*files, mapping=load_mapping("hubspot"))

    assert result.committed, [str(p) for p in result.problems]
    assert result.warnings == []
    summary = {s.file.split("-exports-")[1]: (s.entity, s.created) for s in result.files}
    assert summary == {
        f"all-companies-{HUBSPOT_DAY}.csv": ("accounts", 2),
        f"all-contacts-{HUBSPOT_DAY}.csv": ("contacts", 2),
        f"leads-{HUBSPOT_DAY}.csv": ("leads", 5),
        f"all-deals-{HUBSPOT_DAY}.csv": ("deals", 1),
        f"all-calls-{HUBSPOT_DAY}.csv": ("activities", 2),
        f"all-meetings-{HUBSPOT_DAY}.csv": ("activities", 1),
        f"all-tasks-{HUBSPOT_DAY}.csv": ("activities", 1),
        f"all-activities-{HUBSPOT_DAY}.csv": ("activities", 2),
    }
    ana = "ana@hub.example"
    assert leads(db) == [
        ("Hana", "Holt", "Hooli", "hana@hooli.example", "new", "Organic Search", ana,
         utc("2025-01-10T09:00"), None, None, None),
        # MQL by its lifecycle stage, though sales are still trying to reach it.
        ("Ivo", "Ivanov", "Vandelay", "ivo@vandelay.example", "mql", "Paid Social", ana,
         utc("2025-01-11T09:00"), utc("2025-01-11T09:00"), None, None),
        # Unqualified by sales, whatever its lifecycle stage.
        ("Jo", "Jones", "Umbrella", "jo@umbrella.example", "disqualified", "Direct Traffic",
         None, utc("2025-01-12T09:00"), None, None, utc("2025-01-12T09:00")),
        ("Kim", "Kurz", "Soylent", "kim@soylent.example", "working", "Referrals", ana,
         utc("2025-01-13T09:00"), None, None, None),
        # An opportunity: a deal was made of it.
        ("Lea", "Lund", "Acme", "lea@acme.example", "converted", "Offline Sources", ana,
         utc("2025-01-14T09:00"), utc("2025-01-14T09:00"), utc("2025-01-14T09:00"), None),
    ]  # fmt: skip
    with Session(db) as session:
        hana = session.scalars(select(Lead).where(Lead.email == "hana@hooli.example")).one()
        assert (hana.phone, hana.title) == ("+1 650 555 0100", "VP Sales")
    assert activities(db) == [
        ("call", "Pricing call", utc("2025-02-03T15:00"), ana, "Globex rollout",
         "gus@globex.example", None, "Globex", "Connected", "Wants 250 seats"),
        ("note", "(no subject)", utc("2025-02-04T09:00"), ana, "Globex rollout",
         "gus@globex.example", None, "Globex", None, "Budget approved"),
        ("call", "Intro call", utc("2025-02-04T10:00"), ana, None, "ivy@initrode.example",
         None, "Initrode", "Left voicemail", None),
        ("email", "(no subject)", utc("2025-02-05T08:30"), ana, None, "ivy@initrode.example",
         None, "Initrode", None, "Re: quote"),
        ("meeting", "Demo", utc("2025-02-10T15:00"), ana, "Globex rollout",
         "gus@globex.example", None, "Globex", "Completed", "Full product tour"),
        ("task", "Send contract", utc("2025-07-01T09:00"), ana, "Globex rollout", None, None,
         "Globex", "Not started", None),
    ]  # fmt: skip

    assert_re_import_changes_nothing(db, do_import, files, "hubspot")


def test_hubspot_unknown_lead_status_and_activity_type_are_problems_of_their_rows(
    db: Engine, do_import: Import, write: Write
) -> None:
    add_user(db, "ana@hub.example", "Ana Lopez")
    files = hubspot_files(
        write, leads_rows="406,Max,Moll,max@wayne.example,,,Wayne,Lead,Hot,Ana Lopez,"
                          "2025-01-15 09:00,Organic Search\n"
    )  # fmt: skip
    files.append(write(
        f"hubspot-crm-exports-more-activities-{HUBSPOT_DAY}.csv",
        "Record ID,Activity type,Activity date,Activity assigned to,Body preview,"
        "Associated Contact IDs,Associated Company IDs,Associated Deal IDs\n"
        "803,LINKEDIN_MESSAGE,2025-02-06 08:30,Ana Lopez,Hi Gus,201,101,\n"
        "804,CALL,2025-02-07 08:30,Ana Lopez,Follow-up,209,101,\n",
    ))  # fmt: skip
    before = counts(db)

    result = do_import(*files, mapping=load_mapping("hubspot"))

    assert not result.committed
    assert counts(db) == before
    assert [(p.file, p.row, p.column, p.message) for p in result.problems] == [
        (f"hubspot-crm-exports-leads-{HUBSPOT_DAY}.csv", 7, "Lead Status",
         "status: 'Hot' is not one of new, working, mql, sql, converted, disqualified"),
        (f"hubspot-crm-exports-more-activities-{HUBSPOT_DAY}.csv", 2, "Activity type",
         "type: 'LINKEDIN_MESSAGE' is not one of call, email, meeting, note, task"),
        (f"hubspot-crm-exports-more-activities-{HUBSPOT_DAY}.csv", 3,
         "Associated Contact IDs", "no contact '209' (not in this import nor in Topline)"),
    ]  # fmt: skip


# --- Pipedrive ---------------------------------------------------------------------------------

MILTON_LEAD = "55ebb4c0-536e-11ea-87d0-d1171b17f6a0"
SAMIR_LEAD = "6a1f09e2-536e-11ea-87d0-d1171b17f6a0"


def pipedrive_files(write: Write, activity_rows: str = "") -> list[Path]:
    return [
        write("organizations-export.csv",
              "Organization - ID,Organization - Name,Organization - Owner\n"
              "7,Initech,Bill L\n8,Initrode,Bill L\n"),
        write("people-export.csv",
              "Person - ID,Person - Name,Person - Email,Person - Organization\n"
              "8,Peter Gibbons,peter@initech.example,Initech\n"),
        write("deals-export.csv",
              "Deal - ID,Deal - Title,Deal - Value,Deal - Status,Deal - Stage,Deal - Owner,"
              "Deal - Organization,Deal - Contact person,Deal - Expected close date,"
              "Deal - Deal created\n"
              "9,TPS upgrade,4000,open,Proposal Made,Bill L,Initech,Peter Gibbons,2025-05-31,"
              "2025-03-01 08:00:00\n"),
        # The Leads Inbox export: bare column names, ids as UUIDs.
        write("leads-export.csv",
              "ID,Title,Owner,Person,Organization,Value,Source,Labels,Lead created,"
              "Expected close date\n"
              f"{MILTON_LEAD},Initrode lead,Bill L,Milton Waddams,Initrode,5000,Web forms,Hot,"
              "2025-02-01 10:00:00,2025-06-30\n"
              f"{SAMIR_LEAD},Samir lead,Bill L,Samir Nagheenanajar,,,Manually created,,"
              "2025-02-02 11:00:00,\n"),
        write("activities-export.csv",
              "Activity - ID,Activity - Subject,Activity - Type,Activity - Due date,"
              "Activity - Due time,Activity - Duration,Activity - Done,Activity - Note,"
              "Activity - Person,Activity - Organization,Activity - Deal,Deal - ID,Lead - ID,"
              "Activity - Assigned to user,Activity - Marked as done time\n"
              "21,Kickoff call,Call,2025-03-04,10:30,00:30,Done,Needs two printers,"
              "Peter Gibbons,Initech,TPS upgrade,9,,Bill L,2025-03-04 11:05:00\n"
              "22,Contract deadline,Deadline,2025-03-20,,,Undone,,,Initech,TPS upgrade,9,,"
              "Bill L,\n"
              "23,Lunch with Peter,Lunch,2025-03-05,12:00,01:00,Done,,Peter Gibbons,Initech,,,,"
              "bill@initech.example,2025-03-05 14:00:00\n"
              f"24,Intro email,Email,2025-02-03,09:15,,Done,,,,,,{MILTON_LEAD},Bill L,"
              "2025-02-03 09:20:00\n" + activity_rows),
    ]  # fmt: skip


def test_pipedrive_leads_and_activities(db: Engine, do_import: Import, write: Write) -> None:
    add_user(db, "bill@initech.example", "Bill L")
    files = pipedrive_files(write)

    result = do_import(*files, mapping=load_mapping("pipedrive"))

    assert result.committed, [str(p) for p in result.problems]
    assert result.warnings == []
    assert {s.file: (s.entity, s.created) for s in result.files} == {
        "organizations-export.csv": ("accounts", 2),
        "people-export.csv": ("contacts", 1),
        "leads-export.csv": ("leads", 2),
        "deals-export.csv": ("deals", 1),
        "activities-export.csv": ("activities", 4),
    }
    bill = "bill@initech.example"
    assert leads(db) == [
        ("Milton", "Waddams", "Initrode", None, "new", "Web forms", bill,
         utc("2025-02-01T10:00"), None, None, None),
        # No organization: the lead's title stands for its company.
        ("Samir", "Nagheenanajar", "Samir lead", None, "new", "Manually created", bill,
         utc("2025-02-02T11:00"), None, None, None),
    ]  # fmt: skip
    assert activities(db) == [
        ("email", "Intro email", utc("2025-02-03T09:15"), bill, None, None, "Initrode", None,
         "Done", None),
        ("call", "Kickoff call", utc("2025-03-04T10:30"), bill, "TPS upgrade",
         "peter@initech.example", None, "Initech", "Done", "Needs two printers"),
        ("meeting", "Lunch with Peter", utc("2025-03-05T12:00"), bill, None,
         "peter@initech.example", None, "Initech", "Done", None),
        ("task", "Contract deadline", utc("2025-03-20T00:00"), bill, "TPS upgrade", None, None,
         "Initech", "Not done", None),
    ]  # fmt: skip

    assert_re_import_changes_nothing(db, do_import, files, "pipedrive")


def test_pipedrive_re_import_updates_a_changed_activity(
    db: Engine, do_import: Import, write: Write
) -> None:
    add_user(db, "bill@initech.example", "Bill L")
    assert do_import(*pipedrive_files(write), mapping=load_mapping("pipedrive")).committed
    before = counts(db)
    files = pipedrive_files(write)
    moved = files[-1].read_text(encoding="utf-8").replace(
        "22,Contract deadline,Deadline,2025-03-20,,,Undone", "22,Contract deadline,Deadline,"
        "2025-03-27,,,Done"
    )  # fmt: skip
    files[-1].write_text(moved, encoding="utf-8")

    result = do_import(*files, mapping=load_mapping("pipedrive"))

    assert result.committed, [str(p) for p in result.problems]
    activity = next(s for s in result.files if s.entity == "activities")
    assert (activity.created, activity.updated, activity.unchanged) == (0, 1, 3)
    assert counts(db) == {**before, "audit_log": before["audit_log"] + 1}
    assert activities(db)[-1][:3] == ("task", "Contract deadline", utc("2025-03-27T00:00"))
    assert activities(db)[-1][8] == "Done"


def test_pipedrive_custom_activity_type_is_a_problem_of_its_row(
    db: Engine, do_import: Import, write: Write
) -> None:
    add_user(db, "bill@initech.example", "Bill L")
    files = pipedrive_files(
        write, activity_rows="25,Product demo,Demo,2025-03-06,15:00,,Done,,Peter Gibbons,"
                             "Initech,,,,Bill L,\n"
                             "26,Check-in,Call,2025-03-07,09:00,,Done,,,Initech,,99,,Bill L,\n"
    )  # fmt: skip

    result = do_import(*files, mapping=load_mapping("pipedrive"), keep_valid=True)

    assert result.committed
    assert [(p.file, p.row, p.column, p.message) for p in result.problems] == [
        ("activities-export.csv", 6, "Activity - Type",
         "type: 'Demo' is not one of call, email, meeting, note, task"),
        ("activities-export.csv", 7, "Deal - ID",
         "no deal '99' (not in this import nor in Topline)"),
    ]  # fmt: skip
    assert [a[1] for a in activities(db)] == [
        "Intro email", "Kickoff call", "Lunch with Peter", "Contract deadline",
    ]  # fmt: skip
