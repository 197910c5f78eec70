"""Turn off SQLite's memory statistics in this process, so that its threads stop queuing.

SQLite counts every allocation it makes in process-wide statistics (`SQLITE_CONFIG_MEMSTATUS`,
on unless the library was built with `SQLITE_DEFAULT_MEMSTATUS=0`, which SQLite recommends:
https://sqlite.org/compile.html#recommended_compile_time_options). The count is kept under one
mutex for the whole process, so threads reading one database side by side
(`storage.db.read_in_parallel`) take turns at each allocation. Measured on 1M deals, two
reads of the waterfall report on two threads: 0.38–0.43 s each with the statistics, 0.24 s
without (0.26 s each alone); in two processes, 0.26 s each either way.

The setting is the library's, for the whole process, and SQLite takes it only while shut
down; shutting down with a connection open is undefined. So it is changed only when no
connection is open: a probe connection shows whether allocations are counted, and once it is
closed, whether any other connection still holds memory; and only at the first try in the
process (`storage.db.make_engine` tries before its first SQLite engine), before the threads
that could open one meanwhile have started. Where the library cannot be reached (a Python
whose `_sqlite3` links SQLite in without exporting it) nothing changes.
"""

from __future__ import annotations

import ctypes
import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

# From sqlite3.h.
_SQLITE_OK = 0
_SQLITE_CONFIG_MEMSTATUS = 9
_SQLITE_STATUS_MALLOC_COUNT = 9

_lock = threading.Lock()
_outcome: bool | None = None  # off after the first try, or left on


def _library() -> ctypes.CDLL | None:
    """The SQLite library Python's `sqlite3` module uses, or none where it cannot be reached."""
    try:
        import _sqlite3

        library = ctypes.CDLL(_sqlite3.__file__)
        for name in ("sqlite3_status", "sqlite3_shutdown", "sqlite3_config", "sqlite3_initialize"):
            getattr(library, name)
    except (ImportError, OSError, AttributeError):
        return None
    return library


def _allocations(library: ctypes.CDLL) -> int:
    """SQLite's allocations outstanding in this process (0 when they are not counted)."""
    current, highest = ctypes.c_int(), ctypes.c_int()
    library.sqlite3_status(
        _SQLITE_STATUS_MALLOC_COUNT, ctypes.byref(current), ctypes.byref(highest), 0
    )
    return current.value


def _counted(library: ctypes.CDLL) -> bool:
    """Whether `library` counts its allocations: a connection open makes some."""
    probe = sqlite3.connect(":memory:")
    try:
        return _allocations(library) > 0
    finally:
        probe.close()


def counts_allocations() -> bool | None:
    """Whether SQLite counts its allocations in this process; none where it cannot be told."""
    library = _library()
    return None if library is None else _counted(library)


def stop_memory_statistics() -> bool:
    """Turn SQLite's memory statistics off if they are on and no connection is open in this
    process, at the first call only; whether that call found or left them off."""
    global _outcome
    with _lock:
        if _outcome is None:
            _outcome = _stop()
        return _outcome


def _stop() -> bool:
    library = _library()
    if library is None:
        return False
    if not _counted(library):
        return True
    # The probe is closed: what is still counted belongs to other connections.
    if _allocations(library) > 0:
        # Another connection is open: leave the library alone (reads side by side only wait
        # on each other more).
        log.debug("SQLite memory statistics left on: a connection is open")
        return False
    library.sqlite3_shutdown()
    configured = library.sqlite3_config(_SQLITE_CONFIG_MEMSTATUS, ctypes.c_int(0))
    started = library.sqlite3_initialize()
    if started != _SQLITE_OK:  # pragma: no cover  (starting again after a clean shutdown)
        raise RuntimeError(f"SQLite failed to start again (error {started})")
    return bool(configured == _SQLITE_OK)
