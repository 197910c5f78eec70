"""The JSON API under /api/v1: one router per resource, all behind bearer-token auth."""

from __future__ import annotations

from fastapi import APIRouter

from topline.web.api import (
    accounts,
    activities,
    audit,
    contacts,
    deals,
    forecasts,
    leads,
    pipelines,
    quotas,
    teams,
    tokens,
    users,
)

API_PREFIX = "/api/v1"

router = APIRouter(prefix=API_PREFIX)
for resource in (
    users, teams, tokens, accounts, contacts, leads, pipelines, deals, activities, quotas,
    forecasts, audit,
):  # fmt: skip
    router.include_router(resource.router)
