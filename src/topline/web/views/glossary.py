"""The glossary page: every metric and sales term the app uses, searchable, with formulas."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from topline.analytics.glossary import TERMS, search
from topline.web.deps import CurrentUser
from topline.web.routing import TransactionRoute
from topline.web.templating import templates

router = APIRouter(route_class=TransactionRoute)


@router.get("/glossary", response_class=HTMLResponse)
def glossary_page(
    request: Request,
    user: CurrentUser,
    q: Annotated[str, Query(max_length=100, description="Words to look for.")] = "",
) -> HTMLResponse:
    """The terms, grouped as the app uses them; `q` keeps those containing every word."""
    terms = search(q) if q.strip() else list(TERMS)
    groups: dict[str, list[object]] = {}
    for term in terms:
        groups.setdefault(term.group, []).append(term)
    context = {"groups": groups, "query": q, "found": len(terms), "total": len(TERMS)}
    return templates.TemplateResponse(request, "glossary.html", context)
