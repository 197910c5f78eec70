"""HTML pages. Every page router is included here, behind the CSRF check on unsafe methods."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from topline.web.csrf import verify_csrf
from topline.web.views import (
    accounts,
    admin,
    auth,
    contacts,
    dashboard,
    deal,
    deals,
    forecast,
    glossary,
    imports,
    leads,
    pipeline,
    reports,
    team,
)

router = APIRouter(dependencies=[Depends(verify_csrf)])
router.include_router(auth.router)
router.include_router(dashboard.router)
router.include_router(pipeline.router)
router.include_router(deals.router)
router.include_router(deal.router)
router.include_router(leads.router)
router.include_router(accounts.router)
router.include_router(contacts.router)
router.include_router(reports.router)
router.include_router(forecast.router)
router.include_router(imports.router)
router.include_router(glossary.router)
router.include_router(team.router)
router.include_router(admin.router)
