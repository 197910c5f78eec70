"""What can be imported: Topline's entities and their fields, with the header names other CRMs
and spreadsheets use for each (for automatic column matching).

Entities are imported in `ORDER`, so that references point at records that exist: teams, then
users, accounts, contacts, leads, deals, the deals' history, activities. A reference to a record
of the same entity (a user's manager, a team's parent) may point at a row further down the file,
and a lead's converted deal at a deal imported after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from topline.auth.enums import Role
from topline.crm.enums import (
    ActivityType,
    BuyingRole,
    DealType,
    ForecastCategory,
    LeadStatus,
    Segment,
)


class Kind(StrEnum):
    """How a cell becomes a field's value (see `topline.importers.values`)."""

    TEXT = "text"
    EMAIL = "email"
    INT = "int"
    MONEY = "money"
    DATE = "date"
    DATETIME = "datetime"
    BOOL = "bool"
    CHOICE = "choice"
    COUNTRY = "country"
    REF = "ref"  # another record, by its key in the source, its email (users) or its name
    STAGE = "stage"  # a stage of the deal's pipeline, by name


@dataclass(frozen=True)
class FieldDef:
    name: str
    kind: Kind
    help: str
    required: bool = False
    max_length: int = 0
    choices: type[StrEnum] | None = None
    ref: str | None = None
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntityDef:
    name: str
    noun: str
    fields: tuple[FieldDef, ...]
    file_names: tuple[str, ...]
    # Whether a file of unknown name may be taken for this entity because its header fits.
    guessed_by_header: bool = True

    def field(self, name: str) -> FieldDef | None:
        return next((f for f in self.fields if f.name == name), None)


def _text(
    name: str, max_length: int, help: str, *synonyms: str, required: bool = False
) -> FieldDef:
    return FieldDef(name, Kind.TEXT, help, required, max_length, synonyms=synonyms)


KEY_HELP = "the record's id in the source system; re-importing the same key updates the record"

TEAMS = EntityDef(
    "teams",
    "team",
    (
        FieldDef("key", Kind.TEXT, KEY_HELP, max_length=200, synonyms=("team id", "id")),
        _text("name", 200, "team name", "team", "team name", "office", required=True),
        FieldDef("manager", Kind.REF, "the user leading the team", ref="users",
                 synonyms=("manager", "team lead", "lead")),
        FieldDef("parent", Kind.REF, "the team this one belongs to", ref="teams",
                 synonyms=("parent", "parent team")),
    ),
    ("teams", "team", "offices", "regions"),
)  # fmt: skip

USERS = EntityDef(
    "users",
    "user",
    (
        FieldDef("key", Kind.TEXT, KEY_HELP, max_length=200, synonyms=("user id", "id")),
        FieldDef("email", Kind.EMAIL, "sign-in email, unique", required=True,
                 synonyms=("email", "e-mail", "email address", "username")),
        _text("name", 200, "full name", "name", "full name", "user", "sales rep", "sales agent",
              required=True),
        FieldDef("role", Kind.CHOICE, "admin, manager or rep (default rep)", choices=Role,
                 synonyms=("role", "profile")),
        FieldDef("manager", Kind.REF, "who the user reports to", ref="users",
                 synonyms=("manager", "reports to", "manager email")),
        FieldDef("team", Kind.REF, "the user's team", ref="teams",
                 synonyms=("team", "team name", "regional office", "office")),
        FieldDef("hired_at", Kind.DATETIME, "start date (default: the import)",
                 synonyms=("hired", "hire date", "start date", "created date")),
        FieldDef("active", Kind.BOOL, "can still sign in (default yes)",
                 synonyms=("active", "is active", "isactive", "enabled")),
    ),
    ("users", "user", "owners", "reps", "sales teams", "sales team", "team members"),
)  # fmt: skip

ACCOUNTS = EntityDef(
    "accounts",
    "account",
    (
        FieldDef("key", Kind.TEXT, KEY_HELP, max_length=200,
                 synonyms=("account id", "company id", "record id", "id")),
        _text("name", 300, "company name", "account", "account name", "company", "company name",
              "organization", "organisation", "organization name", "name", required=True),
        _text("domain", 255, "web domain", "domain", "website", "company domain name", "web"),
        _text("industry", 100, "industry", "industry", "sector", "vertical"),
        FieldDef("segment", Kind.CHOICE, "smb, mid_market or enterprise", choices=Segment,
                 synonyms=("segment", "size band", "tier")),
        FieldDef("employees", Kind.INT, "number of employees",
                 synonyms=("employees", "number of employees", "numberofemployees", "headcount")),
        FieldDef("annual_revenue", Kind.MONEY, "annual revenue",
                 synonyms=("annual revenue", "annualrevenue", "revenue")),
        FieldDef("country", Kind.COUNTRY, "ISO country code (map names in the mapping)",
                 synonyms=("country", "billing country", "billingcountry", "country code")),
        _text("region", 100, "state or region", "region", "state", "billing state", "billingstate"),
        _text("postal_code", 20, "postal code", "postal code", "zip", "zip code",
              "billing zip/postal code", "billingpostalcode"),
        _text("territory", 100, "sales territory", "territory"),
        FieldDef("owner", Kind.REF, "the user owning the account", ref="users",
                 synonyms=("owner", "account owner", "company owner", "ownerid", "owner id")),
        FieldDef("created_at", Kind.DATETIME, "when it was created (default: the import)",
                 synonyms=("created", "created date", "createddate", "create date")),
    ),
    ("accounts", "account", "companies", "company", "organizations", "organisations"),
)  # fmt: skip

CONTACTS = EntityDef(
    "contacts",
    "contact",
    (
        FieldDef("key", Kind.TEXT, KEY_HELP, max_length=200,
                 synonyms=("contact id", "record id", "id")),
        FieldDef("account", Kind.REF, "the contact's account", ref="accounts", required=True,
                 synonyms=("account", "account name", "company", "company name", "accountid",
                           "organization")),
        _text("first_name", 100, "first name", "first name", "firstname", "given name"),
        _text("last_name", 100, "last name", "last name", "lastname", "surname", "family name"),
        _text("name", 200, "full name, split at the last space when first/last are not given",
              "name", "full name", "contact", "contact name", "person"),
        FieldDef("email", Kind.EMAIL, "email", synonyms=("email", "e-mail", "email address")),
        _text("phone", 50, "phone", "phone", "phone number", "mobile", "mobile phone"),
        _text("title", 200, "job title", "title", "job title", "position"),
        FieldDef("buying_role", Kind.CHOICE,
                 "decision_maker, champion, influencer, blocker or user", choices=BuyingRole,
                 synonyms=("buying role", "role", "contact role")),
        FieldDef("created_at", Kind.DATETIME, "when it was created (default: the import)",
                 synonyms=("created", "created date", "createddate", "create date")),
    ),
    ("contacts", "contact", "people", "persons"),
)  # fmt: skip

DEALS = EntityDef(
    "deals",
    "deal",
    (
        FieldDef("key", Kind.TEXT, KEY_HELP, max_length=200,
                 synonyms=("opportunity id", "deal id", "record id", "id")),
        _text("name", 300, "deal name", "name", "deal name", "opportunity name", "opportunity",
              "title", required=True),
        FieldDef("account", Kind.REF, "the account sold to", ref="accounts",
                 synonyms=("account", "account name", "company", "organization", "accountid")),
        FieldDef("contact", Kind.REF, "the main contact", ref="contacts",
                 synonyms=("contact", "contact name", "person", "primary contact")),
        FieldDef("owner", Kind.REF, "the rep owning the deal", ref="users", required=True,
                 synonyms=("owner", "deal owner", "opportunity owner", "ownerid", "sales rep",
                           "sales agent", "rep")),
        FieldDef("stage", Kind.STAGE, "stage name in the pipeline (map other names)",
                 required=True,
                 synonyms=("stage", "deal stage", "stagename", "dealstage", "status")),
        FieldDef("amount", Kind.MONEY, "amount", required=True,
                 synonyms=("amount", "value", "deal value", "close value", "opportunity amount")),
        FieldDef("recurring_amount", Kind.MONEY, "recurring amount per month",
                 synonyms=("recurring amount", "mrr", "monthly recurring revenue")),
        FieldDef("close_date", Kind.DATE, "expected or actual close date", required=True,
                 synonyms=("close date", "closedate", "expected close date",
                           "expected close", "closed date")),
        FieldDef("forecast_category", Kind.CHOICE,
                 "pipeline, best_case, commit, closed or omitted (default from the stage)",
                 choices=ForecastCategory,
                 synonyms=("forecast category", "forecastcategory", "forecastcategoryname")),
        FieldDef("type", Kind.CHOICE, "new_business, expansion or renewal (default new_business)",
                 choices=DealType, synonyms=("type", "deal type", "opportunity type")),
        _text("source", 50, "lead source", "source", "lead source", "leadsource"),
        _text("loss_reason", 200, "why it was lost", "loss reason", "lost reason",
              "closed lost reason"),
        _text("next_step", 500, "next step", "next step", "nextstep"),
        FieldDef("created_at", Kind.DATETIME, "when it was created (default: the first history "
                 "date, else the import)",
                 synonyms=("created", "created date", "createddate", "create date",
                           "deal created")),
        FieldDef("closed_at", Kind.DATETIME, "when it was won or lost (default: its close date)",
                 synonyms=("closed at", "closed won date", "date closed")),
    ),
    ("deals", "deal", "opportunities", "opportunity", "pipeline", "sales pipeline"),
)  # fmt: skip

LEADS = EntityDef(
    "leads",
    "lead",
    (
        FieldDef("key", Kind.TEXT, KEY_HELP, max_length=200,
                 synonyms=("lead id", "record id", "id")),
        _text("first_name", 100, "first name", "first name", "firstname"),
        _text("last_name", 100, "last name", "last name", "lastname", "surname"),
        _text("name", 200, "full name, split at the last space when first/last are not given",
              "name", "full name", "lead name"),
        FieldDef("email", Kind.EMAIL, "email", synonyms=("email", "e-mail", "email address")),
        _text("phone", 50, "phone", "phone", "phone number", "mobile"),
        _text("title", 200, "job title", "title", "job title"),
        _text("company", 300, "company name", "company", "company name", "organization",
              "account name", required=True),
        _text("company_domain", 255, "company web domain", "website", "domain",
              "company domain name"),
        _text("industry", 100, "industry", "industry"),
        FieldDef("employees", Kind.INT, "number of employees",
                 synonyms=("employees", "number of employees", "numberofemployees")),
        FieldDef("country", Kind.COUNTRY, "ISO country code",
                 synonyms=("country", "countrycode", "country code")),
        _text("region", 100, "state or region", "region", "state"),
        _text("source", 50, "where the lead came from (default: import)", "source",
              "lead source", "leadsource"),
        FieldDef("status", Kind.CHOICE,
                 "new, working, mql, sql, converted or disqualified (default new)",
                 choices=LeadStatus, synonyms=("status", "lead status")),
        FieldDef("bant_budget", Kind.BOOL, "budget confirmed", synonyms=("budget",)),
        FieldDef("bant_authority", Kind.BOOL, "authority confirmed", synonyms=("authority",)),
        FieldDef("bant_need", Kind.BOOL, "need confirmed", synonyms=("need",)),
        FieldDef("bant_timeline", Kind.BOOL, "timeline confirmed", synonyms=("timeline",)),
        FieldDef("owner", Kind.REF, "the user working the lead", ref="users",
                 synonyms=("owner", "lead owner", "ownerid")),
        FieldDef("created_at", Kind.DATETIME, "when it was created (default: the import)",
                 synonyms=("created", "created date", "createddate", "create date")),
        _text("disqualification_reason", 200, "why it was disqualified",
              "disqualification reason", "disqualified reason"),
        FieldDef("converted_at", Kind.DATETIME,
                 "when a converted lead was converted (default: its creation; a moment before "
                 "its creation counts as its creation, as sources give the day only)",
                 synonyms=("converted at", "converted date", "converteddate")),
        FieldDef("converted_account", Kind.REF, "the account a converted lead became",
                 ref="accounts", synonyms=("converted account", "convertedaccountid")),
        FieldDef("converted_contact", Kind.REF, "the contact a converted lead became",
                 ref="contacts", synonyms=("converted contact", "convertedcontactid")),
        FieldDef("converted_deal", Kind.REF, "the deal a converted lead became", ref="deals",
                 synonyms=("converted deal", "converted opportunity",
                           "convertedopportunityid")),
    ),
    ("leads", "lead"),
)  # fmt: skip

DEAL_HISTORY = EntityDef(
    "deal_history",
    "deal history row",
    (
        FieldDef("key", Kind.TEXT, KEY_HELP, max_length=200,
                 synonyms=("history id", "id")),
        FieldDef("deal", Kind.REF, "the deal, by its key", ref="deals", required=True,
                 synonyms=("deal", "deal id", "opportunity", "opportunityid",
                           "opportunity id")),
        FieldDef("at", Kind.DATETIME, "when the deal came to this state", required=True,
                 synonyms=("date", "changed at", "created date", "createddate", "valid from")),
        FieldDef("stage", Kind.STAGE, "its stage then (map other names)", required=True,
                 synonyms=("stage", "stagename", "stage name", "deal stage")),
        FieldDef("amount", Kind.MONEY,
                 "its amount then (empty: as on the row before; on the first row, the deal's)",
                 synonyms=("amount",)),
        FieldDef("close_date", Kind.DATE,
                 "its close date then (empty: as on the row before; on the first row, the "
                 "deal's)", synonyms=("close date", "closedate")),
        FieldDef("forecast_category", Kind.CHOICE,
                 "pipeline, best_case, commit, closed or omitted (default from the stage)",
                 choices=ForecastCategory,
                 synonyms=("forecast category", "forecastcategory", "forecastcategoryname")),
        FieldDef("changed_by", Kind.REF, "the user who made the change", ref="users",
                 synonyms=("changed by", "created by", "createdbyid")),
    ),
    ("deal history", "deal stage history", "opportunity history", "opportunityhistory"),
    # Its columns are mostly a deal's: only a file named for it is taken for it.
    guessed_by_header=False,
)  # fmt: skip

ACTIVITIES = EntityDef(
    "activities",
    "activity",
    (
        FieldDef("key", Kind.TEXT, KEY_HELP, max_length=200,
                 synonyms=("activity id", "task id", "event id", "id")),
        FieldDef("type", Kind.CHOICE, "call, email, meeting, note or task", choices=ActivityType,
                 required=True, synonyms=("type", "activity type", "tasksubtype", "kind")),
        _text("subject", 300, "what it was about", "subject", "title", required=True),
        FieldDef("body", Kind.TEXT, "notes", max_length=100_000,
                 synonyms=("body", "description", "notes", "comments")),
        FieldDef("occurred_at", Kind.DATETIME, "when it happened", required=True,
                 synonyms=("date", "activity date", "activitydate", "due date", "start",
                           "startdatetime")),
        FieldDef("user", Kind.REF, "who did it", ref="users", required=True,
                 synonyms=("user", "owner", "assigned to", "ownerid")),
        FieldDef("deal", Kind.REF, "the deal it was about", ref="deals",
                 synonyms=("deal", "opportunity", "whatid")),
        FieldDef("contact", Kind.REF, "the contact it was with", ref="contacts",
                 synonyms=("contact", "person", "whoid")),
        FieldDef("account", Kind.REF, "the account", ref="accounts",
                 synonyms=("account", "company", "accountid")),
        FieldDef("lead", Kind.REF, "the lead", ref="leads", synonyms=("lead",)),
        FieldDef("duration_minutes", Kind.INT, "minutes",
                 synonyms=("duration", "duration minutes", "durationinminutes")),
        _text("outcome", 100, "how it went", "outcome", "result", "call result"),
        FieldDef("email_opened", Kind.BOOL, "an email was opened", synonyms=("opened",)),
        FieldDef("email_clicked", Kind.BOOL, "a link in an email was clicked",
                 synonyms=("clicked",)),
        FieldDef("email_replied", Kind.BOOL, "an email was replied to", synonyms=("replied",)),
    ),
    ("activities", "activity", "tasks", "task", "events", "event", "calls", "emails"),
)  # fmt: skip

ENTITIES = {
    entity.name: entity
    for entity in (TEAMS, USERS, ACCOUNTS, CONTACTS, LEADS, DEALS, DEAL_HISTORY, ACTIVITIES)
}
ORDER = ("teams", "users", "accounts", "contacts", "leads", "deals", "deal_history", "activities")


def normalized(header: str) -> str:
    """A header as compared with synonyms: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]+", "", header.casefold())


def match_columns(entity: EntityDef, header: list[str]) -> dict[str, str]:
    """Field name → source column for the header's columns that name a field of `entity`.
    The field's own name counts as a synonym; each column serves one field at most."""
    by_key = {normalized(column): column for column in header}
    taken: set[str] = set()
    matches: dict[str, str] = {}
    for field_def in entity.fields:
        for candidate in (field_def.name, *field_def.synonyms):
            column = by_key.get(normalized(candidate))
            if column is not None and column not in taken:
                matches[field_def.name] = column
                taken.add(column)
                break
    return matches


def guess_entity(file_name: str, header: list[str]) -> EntityDef | None:
    """The entity a file holds, from its name (deals.csv, Opportunity.csv) or, failing that,
    the entity whose required fields its header covers best."""
    stem = normalized(file_name.rsplit(".", 1)[0])
    for entity in ENTITIES.values():
        if any(stem == normalized(name) for name in entity.file_names):
            return entity
    best, best_score = None, 0.0
    for entity in ENTITIES.values():
        if not entity.guessed_by_header:
            continue
        matched = match_columns(entity, header)
        required = [f.name for f in entity.fields if f.required]
        if not all(name in matched for name in required):
            continue
        score = len(matched) / len(entity.fields)
        if score > best_score:
            best, best_score = entity, score
    return best
