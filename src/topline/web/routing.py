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
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextlib import nullcontext
from typing import Annotated, Any

from fastapi import Depends
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from topline.storage.db import write_transaction
from topline.web.deps import REFUSAL_ENDS_REQUEST, InThread, RequestTransaction, get_transaction

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The request's unit of work, passed to the wrapper under a name no endpoint uses.
_TRANSACTION_PARAM = "topline_route_transaction"


class TransactionRoute(APIRoute):
    """An `APIRoute` whose sync endpoint runs in one worker thread and one transaction."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            writes = bool(WRITE_METHODS & {m.upper() for m in kwargs.get("methods") or ()})
            endpoint = _in_one_thread(endpoint, writes=writes)
        super().__init__(path, endpoint, **kwargs)


def _in_one_thread(endpoint: Callable[..., Any], *, writes: bool) -> Callable[..., Any]:
    signature = inspect.signature(endpoint, eval_str=True)
    transaction_param = inspect.Parameter(
        _TRANSACTION_PARAM,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[RequestTransaction, Depends(get_transaction)],
    )

    @functools.wraps(endpoint)
    async def run(**kwargs: Any) -> Any:
        transaction = kwargs.pop(_TRANSACTION_PARAM)
        return await run_in_threadpool(_run, endpoint, transaction, kwargs, writes)

    # FastAPI reads the parameters from `__signature__`: the endpoint's, annotations evaluated
    # in the endpoint's module, plus the transaction. `__wrapped__` would lead it past them.
    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), transaction_param]
    )
    del run.__wrapped__
    return run


def _run(
    endpoint: Callable[..., Any],
    transaction: RequestTransaction,
    kwargs: dict[str, Any],
    writes: bool,
) -> Any:
    """The request's blocking work, start to finish, in the calling worker thread."""
    try:
        with write_transaction(transaction.session) if writes else nullcontext():
            transaction.begin()
            try:
                for name, value in kwargs.items():
                    if isinstance(value, InThread):
                        kwargs[name] = value.compute(writes)
                result = endpoint(**kwargs)
                transaction.commit()
            except BaseException:
                transaction.rollback()
                raise
        return result
    finally:
        transaction.session.info.pop(REFUSAL_ENDS_REQUEST, None)
        transaction.close()
