"""Engines and sessions for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from topline.errors import InvalidInput, ToplineError
from topline.storage.sqlite_memstatus import stop_memory_statistics

try:
    import fcntl
except ImportError:  # pragma: no cover  (not on Windows)
    fcntl = None  # type: ignore[assignment]


def normalize_database_url(url: str) -> str:
    """Accept the URLs people type and return the one SQLAlchemy should use.

    `postgresql://` and `postgres://` get the psycopg 3 driver; anything unparseable raises
    `InvalidInput` with the reason, instead of a driver traceback.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with a terse text
        raise InvalidInput(f"invalid database URL {url!r}: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend in {"postgres", "postgresql"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise InvalidInput(
            f"unsupported database {backend!r} in {url!r}: use sqlite:///PATH or postgresql://…"
        )
    return parsed.render_as_string(hide_password=False)


# The execution option that makes an SQLite transaction begin as a writer (BEGIN IMMEDIATE).
SQLITE_WRITER = "topline_sqlite_writer"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the driver, decides where transactions begin (`_sqlite_begin`): the
    # driver's legacy mode starts them only before the first write, so the reads before it see
    # no consistent snapshot and SAVEPOINTs do not nest.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Writers queue on SQLite's single write lock; wait for it rather than fail under load.
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url`; SQLite files get WAL, foreign keys and their parent directory."""
    url = normalize_database_url(url)
    parsed = make_url(url)
    # A server process runs up to 40 request threads; a pool smaller than that opens and closes
    # a connection per request under load (measured: hundreds per second on PostgreSQL).
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() != "sqlite" or parsed.database not in (None, "", ":memory:"):
        kwargs.update(pool_size=20, max_overflow=20)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False}
        # Before the first connection: SQLite's threads otherwise queue on its allocation count.
        stop_memory_statistics()
    else:
        kwargs["pool_pre_ping"] = True
        # PostgreSQL compiles a query to machine code when its estimated cost is high. Report
        # queries over deal_history look costly to the planner yet run in milliseconds, so the
        # compile itself was the slow part: 0.3 to 0.8 s per dashboard (benchmarks/pages.py).
        kwargs["connect_args"] = {"options": "-c jit=off"}
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_begin(connection: Connection) -> None:
    # A writer takes the write lock up front (waiting up to busy_timeout for it): a DEFERRED
    # transaction that read first and then wants to write fails at once with SQLITE_BUSY when
    # another writer committed in between, and no busy_timeout helps it.
    writer = connection.get_execution_options().get(SQLITE_WRITER, False)
    # Straight to the driver: SQLAlchemy's execution path (events, result) costs more than
    # the BEGIN, and every request begins a transaction.
    connection.connection.dbapi_connection.execute(  # type: ignore[union-attr]
        "BEGIN IMMEDIATE" if writer else "BEGIN"
    )


class _WriterGate:
    """One writer at a time into one SQLite file: a thread lock, then an fcntl lock on a file
    beside the database that every process serving that database shares.

    SQLite's own busy handler polls for the write lock with sleeps of up to 100 ms, so 32
    waiting writers take seconds to get in; a blocking `flock` hands the lock over at once.
    """

    def __init__(self, database: Path) -> None:
        self._thread_lock = threading.Lock()
        self._lock_path = database.with_name(database.name + ".writer-lock")
        self._file: IO[bytes] | None = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._thread_lock:
            if fcntl is None:  # pragma: no cover  (Windows: threads queue, processes poll)
                yield
                return
            if self._file is None:
                self._file = self._lock_path.open("ab")
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)


_gates: dict[Path, _WriterGate] = {}
_gates_by_url: dict[str, _WriterGate] = {}  # the same gates, found without touching the disk
_gates_lock = threading.Lock()


def _writer_gate(engine: Engine) -> _WriterGate | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    gate = _gates_by_url.get(database)
    if gate is None:
        path = Path(database).expanduser().resolve()
        with _gates_lock:
            gate = _gates.setdefault(path, _WriterGate(path))
            _gates_by_url[database] = gate
    return gate


@contextmanager
def write_transaction(session: Session) -> Iterator[None]:
    """Begin `session`'s transaction as a writer; the caller commits or rolls back inside.

    On SQLite the writer first queues behind the other writers of this database, in this
    process and in the other processes serving it, then begins with BEGIN IMMEDIATE: it waits
    for the write lock instead of failing halfway. On PostgreSQL this only begins.
    """
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    gate = _writer_gate(engine)
    if gate is None:
        yield
        return
    with gate():
        if not session.in_transaction():  # else it began already, as whatever it is
            session.connection(execution_options={SQLITE_WRITER: True})
        yield


# Reads `read_in_parallel` runs beside a request's own, per server process. The connection pool
# (40) covers them and the request threads (`worker_threads`, at most 8 by default) together.
PARALLEL_READS = 3
_READER_PREFIX = "topline-read"
_readers: ThreadPoolExecutor | None = None
_readers_lock = threading.Lock()


def read_in_parallel(session: Session, *jobs: Callable[[Session], Any]) -> list[Any]:
    """Run independent, read-only `jobs` side by side and return their results in order.

    Each job gets a session: the first runs in `session` itself, the others at the same time in
    sessions of their own on other connections of the same engine, at most `PARALLEL_READS` at
    once in this process. The databases run queries without holding Python's interpreter lock,
    so a page made of several heavy reads takes about as long as its slowest one instead of
    their sum. Each job reads its own snapshot, so a write committed meanwhile may show in one
    and not another. When `session` works in a single connection (a test's transaction, an
    in-memory SQLite database), that connection alone holds the data: the jobs run one after
    another in `session`.
    """
    if len(jobs) < 2 or _reads_in_turn(session):
        return [job(session) for job in jobs]
    engine = session.get_bind()
    assert isinstance(engine, Engine)

    def run(job: Callable[[Session], Any]) -> Any:
        with Session(bind=engine) as own:
            return job(own)

    futures = [_reader_threads().submit(run, job) for job in jobs[1:]]
    first = jobs[0](session)
    return [first, *(future.result() for future in futures)]


def _reads_in_turn(session: Session) -> bool:
    """Whether `read_in_parallel` runs its jobs one after another in `session`."""
    engine = session.get_bind()
    return (
        # A job that reads in parallel itself runs its jobs in turn: waiting in a reader
        # thread for jobs queued behind it could leave every reader waiting.
        threading.current_thread().name.startswith(_READER_PREFIX)
        or not isinstance(engine, Engine)
        or (
            engine.url.get_backend_name() == "sqlite"
            and engine.url.database in (None, "", ":memory:")
        )
    )


def parallel_parts(session: Session) -> int:
    """Into how many parts to split one heavy read of `session` for `read_in_parallel`: as many
    as this process may use cores, and no more than the reads it runs at once; 1 where its
    reads run in turn, as parts read one after another would each scan the whole range."""
    if _reads_in_turn(session):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 1 + PARALLEL_READS))


def _reader_threads() -> ThreadPoolExecutor:
    global _readers
    with _readers_lock:
        if _readers is None:
            _readers = ThreadPoolExecutor(PARALLEL_READS, thread_name_prefix=_READER_PREFIX)
        return _readers


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory.begin() as session:
        yield session


def is_unique_violation(error: IntegrityError) -> bool:
    """True when a unique constraint or unique index refused the write, on either database."""
    # psycopg names the SQLSTATE (23505 is unique_violation); sqlite3 names the extended code.
    if getattr(error.orig, "sqlstate", None) == "23505":
        return True
    return getattr(error.orig, "sqlite_errorname", None) == "SQLITE_CONSTRAINT_UNIQUE"


@contextmanager
def refuse_duplicates(session: Session, error: ToplineError) -> Iterator[None]:
    """Write the block's changes in a SAVEPOINT; raise `error` if a unique constraint refuses them.

    A service's "is this name taken?" check cannot see a row that another transaction commits a
    moment later; the constraint can. The savepoint keeps the caller's transaction usable, so the
    clash is answered as `error` (a 409) rather than as a failed transaction (a 500). Make the
    changes inside the block: `begin_nested()` flushes what is pending before the SAVEPOINT.
    """
    try:
        with session.begin_nested():
            yield
            session.flush()
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise error from exc
