"""Settings read from `TOPLINE_*` environment variables, built once per process."""

from __future__ import annotations

import os
from datetime import time
from functools import lru_cache
from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """The user's data directory for Topline (e.g. ~/.local/share/topline)."""
    return Path(user_data_dir("topline", appauthor=False))


def default_worker_threads() -> int:
    """As many request threads per server process as cores, from 2 to 8.

    Python runs one thread at a time: threads beyond the cores only take turns. Measured with
    `benchmarks/api_load.py` (2 cores, 2 processes, PostgreSQL): 8 threads per process served
    355 edits/s with a p99 of 381 ms for one deal read, 2 threads 438 edits/s and 64 ms.
    """
    return min(8, max(2, os.cpu_count() or 2))


def default_database_url() -> str:
    """The embedded SQLite file under the user's data directory."""
    return f"sqlite:///{default_data_dir() / 'topline.sqlite'}"


class Settings(BaseSettings):
    """Runtime configuration; every field maps to `TOPLINE_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="TOPLINE_", extra="ignore")

    database_url: str = Field(default_factory=default_database_url)
    secret_key: str = Field(
        default="",
        description="Signs session cookies. Empty means a random key per process "
        "(sessions end when the server restarts).",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Files the server keeps: uploaded imports, their progress and rejected rows. "
        "Every server process must see the same folder (shared storage across hosts).",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    secure_cookies: bool = Field(
        default=False, description="Mark cookies Secure; turn on when served over TLS."
    )
    login_attempts_per_minute: int = 10
    login_attempts_per_ip_per_minute: int = Field(
        default=30,
        ge=1,
        description="Sign-in attempts allowed from one client address per minute, whatever "
        "the accounts tried (`login_attempts_per_minute` limits each account).",
    )
    session_hours: int = Field(
        default=12,
        ge=1,
        le=24 * 366,
        description="A browser session ends this many hours after signing in.",
    )
    worker_threads: int = Field(
        default_factory=default_worker_threads,
        ge=1,
        le=256,
        description="Threads per server process doing requests' database work; by default "
        "one per core (2 to 8). More threads than cores mostly wait for Python's interpreter "
        "lock, which slows every request down; raise it for a PostgreSQL server that is slow "
        "to answer, or when long reports would hold up quick requests.",
    )
    sql_echo: bool = False
    forecast_snapshot_at: time | None = Field(
        default=None,
        description="A UTC time of day (e.g. 05:30) from which the server keeps the day's "
        "forecast snapshot (`topline forecast snapshot`) once a day; off when unset. Set it on "
        "one server process, or run the command from cron instead.",
    )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
