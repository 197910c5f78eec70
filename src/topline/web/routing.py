"""Routes that do a request's blocking work in one worker thread, inside one transaction.

FastAPI runs each sync dependency, the sync endpoint and the validation of its answer in a
thread hop of its own: five hops for an authenticated read, each a round trip between the event
loop and a worker thread. Measured on the 2-core reference machine that cost more CPU than the
database work itself. A `TransactionRoute` instead turns a sync endpoint into an async one that
makes a single hop; in that thread it

1. works out the values of `InThread` dependencies (authentication, which reads the database),
2. on SQLite, for a write (POST, PUT, PATCH, DELETE), waits for the database's write lock
   first (see `topline.storage.db.write_transaction`), so writers queue instead of failing,
3. runs the endpoint, then commits, or rolls back on any exception, and closes the session.

Async dependencies that do no I/O (`get_session`, the bearer header, the CSRF check) stay on
the event loop, where they cost nothing. Use `TransactionRoute` for every router that touches
the database: `APIRouter(route_class=TransactionRoute)`.

An endpoint marked `reads_one_record` skips the hop when the database is local: its work runs
on the event loop.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextlib import nullcontext
from typing import Annotated, Any, TypeVar

from fastapi import Depends
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from topline.storage.db import write_transaction
from topline.web.deps import (
    REFUSAL_ENDS_REQUEST,
    InThread,
    MustRunInThread,
    RequestTransaction,
    RequestWork,
    get_transaction,
)

F = TypeVar("F", bound=Callable[..., Any])

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Set on an endpoint by `reads_one_record`.
_ON_EVENT_LOOP = "__topline_reads_one_record__"


def reads_one_record(endpoint: F) -> F:
    """Mark a GET endpoint that reads one record by its key: when the database is SQLite or on
    this machine (loopback or a Unix socket), its work, authentication included, runs on the
    event loop instead of in a worker thread.

    Handing work to a thread and back costs more CPU than reading one row: on the 2-core
    reference machine (`benchmarks/api_load.py`, one deal by id) it raised the requests per
    second from 1,100–1,700 to 1,700–2,500 on SQLite and from 1,100 to 1,550 on PostgreSQL.
    The event loop must not wait long, so only such reads run there: an SQLite reader never
    waits for a writer (WAL), a PostgreSQL read takes no row lock, and a local round trip takes
    tens of microseconds. Work that could wait for a lock (recording a token's use) raises
    `MustRunInThread` instead, and the request runs again in a worker thread. With a database on
    another machine every request keeps to its thread, where waiting costs the loop nothing.
    """
    setattr(endpoint, _ON_EVENT_LOOP, True)
    return endpoint


# The request's unit of work, passed to the wrapper under a name no endpoint uses.
_TRANSACTION_PARAM = "topline_route_transaction"


class TransactionRoute(APIRoute):
    """An `APIRoute` whose sync endpoint runs in one worker thread and one transaction."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            writes = bool(WRITE_METHODS & {m.upper() for m in kwargs.get("methods") or ()})
            on_loop = getattr(endpoint, _ON_EVENT_LOOP, False)
            if on_loop and writes:
                raise TypeError(f"{endpoint.__name__} writes: it cannot run on the event loop")
            endpoint = _in_one_thread(endpoint, writes=writes, on_loop=on_loop)
        super().__init__(path, endpoint, **kwargs)


def _in_one_thread(
    endpoint: Callable[..., Any], *, writes: bool, on_loop: bool
) -> Callable[..., Any]:
    signature = inspect.signature(endpoint, eval_str=True)
    transaction_param = inspect.Parameter(
        _TRANSACTION_PARAM,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[RequestTransaction, Depends(get_transaction)],
    )

    @functools.wraps(endpoint)
    async def run(**kwargs: Any) -> Any:
        transaction = kwargs.pop(_TRANSACTION_PARAM)
        if on_loop and _local(transaction.session):
            try:
                return _run(endpoint, transaction, dict(kwargs), RequestWork(writes, True))
            except MustRunInThread:
                pass  # rolled back: run it again in a thread
        return await run_in_threadpool(_run, endpoint, transaction, kwargs, RequestWork(writes))

    # FastAPI reads the parameters from `__signature__`: the endpoint's, annotations evaluated
    # in the endpoint's module, plus the transaction. `__wrapped__` would lead it past them.
    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), transaction_param]
    )
    del run.__wrapped__
    return run


# Hosts whose database answers a query in a few tens of microseconds; no host at all is a Unix
# socket, the default of PostgreSQL's client library.
_LOCAL_HOSTS = frozenset({None, "", "localhost", "127.0.0.1", "::1"})


def _local(session: Session) -> bool:
    """Whether the session's database is SQLite (in-process) or on this machine."""
    bind = session.bind
    if bind is None:
        return False
    url = bind.engine.url
    return url.get_backend_name() == "sqlite" or url.host in _LOCAL_HOSTS


def _run(
    endpoint: Callable[..., Any],
    transaction: RequestTransaction,
    kwargs: dict[str, Any],
    work: RequestWork,
) -> Any:
    """The request's blocking work, start to finish, in the calling thread."""
    try:
        with write_transaction(transaction.session) if work.writing else nullcontext():
            transaction.begin(work)
            try:
                for name, value in kwargs.items():
                    if isinstance(value, InThread):
                        kwargs[name] = value.compute(work)
                result = endpoint(**kwargs)
                transaction.commit()
            except BaseException:
                transaction.rollback()
                raise
        return result
    finally:
        transaction.session.info.pop(REFUSAL_ENDS_REQUEST, None)
        transaction.close()
