"""The ceiling for `api_load.py`: a bare FastAPI app with one sync endpoint returning a constant.

Served by the same uvicorn, with the same workers and the same wrk settings as Topline, it shows
what the server stack alone can do on this machine, so Topline's numbers read as a share of it:

    uvicorn --app-dir benchmarks ceiling_app:app --workers 2
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/ceiling")
def ceiling() -> dict[str, str]:
    """A constant, from a sync `def` like Topline's endpoints (so it runs in the threadpool too)."""
    return {"status": "ok"}
