"""Test helpers shared by every test package: query-count guards."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session

# Transaction bookkeeping of the rolled-back test session, not queries a page makes.
_NOT_QUERIES = re.compile(r"^\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b", re.I)


@dataclass
class QueryLog:
    """The statements run inside an `assert_max_queries` block."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def assert_max_queries(bind: Session | Connection | Engine, limit: int) -> Iterator[QueryLog]:
    """Fail when the block runs more than `limit` SQL statements on `bind`."""
    target: Connection | Engine
    if isinstance(bind, Session):
        session_bind = bind.get_bind()
        assert isinstance(session_bind, Connection | Engine)
        target = session_bind
    else:
        target = bind
    log = QueryLog()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not _NOT_QUERIES.match(statement):
            log.statements.append(statement)

    event.listen(target, "before_cursor_execute", record)
    try:
        yield log
    finally:
        event.remove(target, "before_cursor_execute", record)
    listing = "\n\n".join(f"{n}. {s}" for n, s in enumerate(log.statements, 1))
    assert log.count <= limit, f"{log.count} queries, expected at most {limit}:\n{listing}"
