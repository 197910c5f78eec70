"""Forecasts over HTTP."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/forecast-submissions", tags=["forecasts"])
