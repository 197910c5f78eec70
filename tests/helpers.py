"""Test helpers shared by every test package: query-count guards, a live server."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI
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


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run `app` with uvicorn on a free local port in a background thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def assert_history_marks(session: Session) -> int:
    """Every deal_history row's marks are what their definitions say, worked out here from the
    deal's rows directly: the first row; the start of the run of rows in the row's stage; in a
    won or lost stage, the start of the run of closed rows; for an open row after an open row
    with an earlier close date, that date; the deal's creation, and its account, type and
    recurring amount as they are now. Returns the number of rows checked."""
    from sqlalchemy import select

    from topline.crm.enums import StageType
    from topline.crm.models import Deal, DealHistory, Stage

    types = dict(session.execute(select(Stage.id, Stage.type)).all())
    copied = (Deal.created_at, Deal.account_id, Deal.type, Deal.recurring_amount_cents)
    created = {deal_id: fields for deal_id, *fields in session.execute(select(Deal.id, *copied))}
    rows = session.execute(
        select(DealHistory).order_by(DealHistory.deal_id, DealHistory.valid_from, DealHistory.id)
    ).scalars()
    deal: list[DealHistory] = []
    checked = 0
    for row in [*rows, None]:
        if deal and (row is None or row.deal_id != deal[0].deal_id):
            for i, mark in enumerate(deal):
                stage_run = i
                while stage_run > 0 and deal[stage_run - 1].stage_id == mark.stage_id:
                    stage_run -= 1
                closed = types[mark.stage_id] != StageType.OPEN
                closed_run = i
                while closed_run > 0 and types[deal[closed_run - 1].stage_id] != StageType.OPEN:
                    closed_run -= 1
                before = deal[i - 1] if i else None
                pushed = (
                    before is not None
                    and not closed
                    and types[before.stage_id] == StageType.OPEN
                    and mark.close_date > before.close_date
                )
                expected = (
                    types[mark.stage_id],
                    i == 0,
                    deal[stage_run].valid_from,
                    deal[closed_run].valid_from if closed else None,
                    before.close_date if pushed and before is not None else None,
                    *created[mark.deal_id],
                )
                actual = (
                    mark.stage_type, mark.is_first, mark.entered_at, mark.closed_at,
                    mark.pushed_from, mark.deal_created_at, mark.account_id, mark.deal_type,
                    mark.recurring_amount_cents,
                )  # fmt: skip
                assert actual == expected, f"deal {mark.deal_id}, history row {mark.id}"
                checked += 1
            deal = []
        if row is not None:
            deal.append(row)
    return checked


def assert_deal_pushes(session: Session) -> int:
    """Every deal's `push_count` and `last_pushed_at` are what its history says, counted here
    from its rows in time order: a push is a row with a later close date than the row before.
    Returns the number of deals that were pushed at least once."""
    from itertools import groupby, pairwise

    from sqlalchemy import select

    from topline.crm.models import Deal, DealHistory

    rows = session.execute(
        select(DealHistory.deal_id, DealHistory.valid_from, DealHistory.close_date).order_by(
            DealHistory.deal_id, DealHistory.valid_from, DealHistory.id
        )
    ).all()
    expected = {}
    for deal_id, group in groupby(rows, key=lambda row: row.deal_id):
        steps = list(group)
        pushes = [b.valid_from for a, b in pairwise(steps) if b.close_date > a.close_date]
        expected[deal_id] = (len(pushes), pushes[-1] if pushes else None)
    stored = {
        deal_id: (count, last)
        for deal_id, count, last in session.execute(
            select(Deal.id, Deal.push_count, Deal.last_pushed_at)
        )
    }
    assert stored == expected
    return sum(count > 0 for count, _ in expected.values())


def assert_deal_stays(session: Session) -> int:
    """Every deal's stays (`DealStay`) are what its history says, worked out here from its
    rows in time order: a stay begins at each row whose stage differs from the row before.
    Returns the number of stays."""
    from itertools import groupby

    from sqlalchemy import select

    from topline.crm.enums import StageType
    from topline.crm.models import DealHistory, DealStay, Stage

    stages = {stage.id: stage for stage in session.scalars(select(Stage))}

    def advances(reached: int, left: int) -> bool:
        to, since = stages[reached], stages[left]
        return to.pipeline_id == since.pipeline_id and (
            to.type == StageType.WON or (to.type == StageType.OPEN and to.position > since.position)
        )

    rows = session.execute(
        select(
            DealHistory.deal_id, DealHistory.id, DealHistory.valid_from, DealHistory.stage_id,
            DealHistory.owner_id,
        ).order_by(DealHistory.deal_id, DealHistory.valid_from, DealHistory.id)
    ).all()  # fmt: skip
    expected = []
    for deal_id, group in groupby(rows, key=lambda row: row.deal_id):
        steps = list(group)
        starts = [
            i for i, row in enumerate(steps) if i == 0 or steps[i - 1].stage_id != row.stage_id
        ]
        entries = [steps[i] for i in starts]
        latest = entries[-1]  # the deal's stage from then on, on every one of its stays
        for n, (i, entry) in enumerate(zip(starts, entries, strict=True)):
            if stages[entry.stage_id].type != StageType.OPEN:
                continue
            left = entries[n + 1].valid_from if n + 1 < len(entries) else None
            later, before = entries[n + 1 :], entries[:n][::-1]
            advanced = [e.valid_from for e in later if advances(e.stage_id, entry.stage_id)]
            again = [e.valid_from for e in before if e.stage_id == entry.stage_id]
            opened = [e.valid_from for e in before if stages[e.stage_id].type == StageType.OPEN]
            handed = [r.valid_from for r in steps[i + 1 :] if r.owner_id != entry.owner_id]
            expected.append((
                deal_id, entry.stage_id, entry.id, entry.valid_from, left,
                None if left is None else (left.date() - entry.valid_from.date()).days,
                advanced[0] if advanced else None,
                again[0] if again else None,
                opened[0] if opened else None,
                entry.owner_id,
                handed[0] if handed else None,
                latest.stage_id,
                latest.valid_from,
            ))  # fmt: skip
    stored = session.execute(
        select(
            DealStay.deal_id, DealStay.stage_id, DealStay.entry_id, DealStay.entered_at,
            DealStay.left_at, DealStay.days, DealStay.advanced_at, DealStay.previous_at,
            DealStay.previous_open_at, DealStay.owner_id, DealStay.owner_until,
            DealStay.last_stage_id, DealStay.last_entered_at,
        ).order_by(DealStay.deal_id, DealStay.entered_at, DealStay.entry_id)
    ).all()  # fmt: skip
    assert [tuple(row) for row in stored] == expected
    return len(expected)


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Session]:
    """A session on `engine` inside a transaction that is rolled back at the end: commits
    inside it only release savepoints."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()
