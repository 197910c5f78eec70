"""The JSON API under /api/v1: one router per resource, all behind bearer-token auth."""

from __future__ import annotations

from fastapi import APIRouter

from topline.web.api import (
    accounts,
    activities,
    audit,
    contacts,
    deals,
    forecast_calls,
    forecast_projection,
    forecasts,
    imports,
    leads,
    pipelines,
    quotas,
    reports,
    reports_changes,
    reports_funnel,
    reports_people,
    reports_quota,
    reports_revenue,
    scores,
    teams,
    tokens,
    users,
)

API_PREFIX = "/api/v1"

# Each resource's router goes straight into the app under API_PREFIX (`create_app`), not into
# an /api/v1 router of its own: FastAPI walks every route of an enclosing router on each request
# it matches, so one more level of routers cost every API request a walk of all of them.
# Routes are matched one by one in this order, so the resources asked for most come first
# (modules that share a prefix, the reports' and the forecast's, have distinct paths).
ROUTERS: tuple[APIRouter, ...] = tuple(
    resource.router
    for resource in (
        deals, accounts, contacts, leads, activities, users, teams, pipelines, quotas, forecasts,
        forecast_calls, forecast_projection, tokens, audit, imports, reports, reports_quota,
        reports_funnel, reports_changes, reports_revenue, reports_people, scores,
    )
)  # fmt: skip
