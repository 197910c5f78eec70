"""Imports every domain's models so SQLAlchemy and Alembic see all tables.

This is the one module of `storage` allowed to import domain code.
"""

from __future__ import annotations

from topline.audit.models import AuditEntry
from topline.auth.models import ApiToken, Organization, SavedView, Team, User
from topline.crm.models import (
    Account,
    Activity,
    Contact,
    Deal,
    DealHistory,
    DealStay,
    Lead,
    Pipeline,
    Stage,
)
from topline.forecasting.models import ForecastSnapshot, ForecastSubmission
from topline.importers.models import ExternalId, ImportJob
from topline.quotas.models import Quota
from topline.scoring.models import DealScore, LeadScore, ScoringModel
from topline.storage.base import Base

__all__ = [
    "Account",
    "Activity",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Contact",
    "Deal",
    "DealHistory",
    "DealScore",
    "DealStay",
    "ExternalId",
    "ForecastSnapshot",
    "ForecastSubmission",
    "ImportJob",
    "Lead",
    "LeadScore",
    "Organization",
    "Pipeline",
    "Quota",
    "SavedView",
    "ScoringModel",
    "Stage",
    "Team",
    "User",
]
