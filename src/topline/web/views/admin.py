"""Admin pages: people and the reporting line, teams, pipelines and stages, quotas, API tokens
and the audit log.

Admins see and change everything. Managers see what their scope allows: the people below them
(read-only), teams and pipelines (read-only), the quotas of their subtree (which they set), and
the audit log of their subtree. Reps only reach their own API tokens (`/settings/tokens`).
Every write goes through the same functions as the API's, so it is checked and audited alike.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from topline.web.deps import CurrentUser
from topline.web.routing import TransactionRoute
from topline.web.views import (
    admin_audit,
    admin_pipelines,
    admin_quotas,
    admin_teams,
    admin_tokens,
    admin_users,
)
from topline.web.views.admin_forms import render, require_staff

router = APIRouter(route_class=TransactionRoute)


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, user: CurrentUser) -> HTMLResponse:
    """The admin sections the viewer may open."""
    require_staff(user)
    return render(request, "admin/index.html", {})


router.include_router(admin_users.router)
router.include_router(admin_teams.router)
router.include_router(admin_pipelines.router)
router.include_router(admin_quotas.router)
router.include_router(admin_tokens.router)
router.include_router(admin_audit.router)
