"""Interactive API docs at /docs, with Swagger UI served from Topline's own static files."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from topline.web.api import API_PREFIX

OPENAPI_URL = f"{API_PREFIX}/openapi.json"

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI for the API; works offline (no CDN)."""
    return get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title="Topline API",
        swagger_js_url="/static/vendor/swagger-ui-bundle.js",
        swagger_css_url="/static/vendor/swagger-ui.css",
        swagger_favicon_url="/static/vendor/favicon-32x32.png",
    )
