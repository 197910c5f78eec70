"""The health check load balancers and process supervisors poll."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(route_class=TransactionRoute)


@router.get("/healthz", include_in_schema=False)
def healthz(session: DbSession) -> JSONResponse:
    """OK once the database answers a trivial query; 503 while it does not."""
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})
