"""Vocabulary of the CRM core."""

from __future__ import annotations

from enum import StrEnum


class Segment(StrEnum):
    """Account size band, the usual split of sales coverage models."""

    SMB = "smb"
    MID_MARKET = "mid_market"
    ENTERPRISE = "enterprise"


class BuyingRole(StrEnum):
    """A contact's part in the buying committee."""

    DECISION_MAKER = "decision_maker"
    CHAMPION = "champion"
    INFLUENCER = "influencer"
    BLOCKER = "blocker"
    USER = "user"


class LeadStatus(StrEnum):
    """Where a lead is on the way from first touch to a deal."""

    NEW = "new"
    WORKING = "working"
    MQL = "mql"
    SQL = "sql"
    CONVERTED = "converted"
    DISQUALIFIED = "disqualified"


class StageType(StrEnum):
    """Whether a stage is still open or ends the deal as won or lost."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


class ForecastCategory(StrEnum):
    """The rep's call on a deal, as rolled up in forecasts."""

    PIPELINE = "pipeline"
    BEST_CASE = "best_case"
    COMMIT = "commit"
    CLOSED = "closed"
    OMITTED = "omitted"


class DealType(StrEnum):
    """New logo, more for an existing customer, or a renewal of a subscription."""

    NEW_BUSINESS = "new_business"
    EXPANSION = "expansion"
    RENEWAL = "renewal"


class ActivityType(StrEnum):
    """What kind of touch an activity records."""

    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    NOTE = "note"
    TASK = "task"


class HistoryField(StrEnum):
    """The deal fields whose changes `deal_history` records."""

    STAGE = "stage"
    AMOUNT = "amount"
    CLOSE_DATE = "close_date"
    FORECAST_CATEGORY = "forecast_category"
    OWNER = "owner"
