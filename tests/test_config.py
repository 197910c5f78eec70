"""Settings defaults that depend on the machine."""

from __future__ import annotations

import pytest

from topline import config
from topline.config import Settings


@pytest.mark.parametrize(("cores", "threads"), [(None, 2), (1, 2), (2, 2), (6, 6), (64, 8)])
def test_request_threads_follow_the_cores_within_bounds(
    monkeypatch: pytest.MonkeyPatch, cores: int | None, threads: int
) -> None:
    monkeypatch.setattr(config.os, "cpu_count", lambda: cores)
    monkeypatch.delenv("TOPLINE_WORKER_THREADS", raising=False)

    assert Settings().worker_threads == threads


def test_the_environment_sets_the_request_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPLINE_WORKER_THREADS", "16")

    assert Settings().worker_threads == 16
