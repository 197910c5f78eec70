"""`change_versioned`: an edit lands only on the version it was made on, and leaves no trace
when refused, whether or not it runs in a savepoint."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, joinedload

from tests.factories import make_deal, make_user
from topline import access
from topline.auth.enums import Role
from topline.crm.errors import StaleDeal
from topline.crm.models import Deal
from topline.crm.schemas import DealRead
from topline.web.api.common import change_versioned, lock_version
from topline.web.deps import REFUSAL_ENDS_REQUEST


def _commit_elsewhere(session: Session, deal: Deal, *, name: str) -> None:
    """What another request's commit leaves: the row moved on, the loaded object not."""
    session.execute(
        update(Deal).where(Deal.id == deal.id).values(name=name, version=Deal.version + 1),
        execution_options={"synchronize_session": False},
    )


@pytest.mark.parametrize("ends_request", [True, False])
def test_a_write_committed_since_the_read_is_refused_with_the_stored_record(
    session: Session, ends_request: bool
) -> None:
    deal = make_deal(session)
    read_version = deal.version
    _commit_elsewhere(session, deal, name="Renamed meanwhile")
    session.info[REFUSAL_ENDS_REQUEST] = ends_request
    changed: list[int] = []

    with pytest.raises(StaleDeal) as refused:
        change_versioned(
            session, deal, read_version, read=DealRead, stale=StaleDeal,
            change=lambda: changed.append(deal.id),
        )  # fmt: skip

    assert changed == []
    current = refused.value.details["current"]
    assert (current["name"], current["version"]) == ("Renamed meanwhile", read_version + 1)


def test_the_lock_reads_the_stored_version_not_the_loaded_one(session: Session) -> None:
    deal = make_deal(session)
    loaded = deal.version
    _commit_elsewhere(session, deal, name="Elsewhere")

    assert (deal.version, lock_version(session, deal)) == (loaded, loaded + 1)


def test_a_refused_change_on_a_page_leaves_no_trace(session: Session) -> None:
    deal = make_deal(session, name="Before")
    session.info.pop(REFUSAL_ENDS_REQUEST, None)  # a page: the refusal is shown, work goes on

    def change() -> Deal:
        deal.name = "Half done"
        session.flush()
        raise ValueError("refused halfway")

    with pytest.raises(ValueError, match="refused halfway"):
        change_versioned(session, deal, deal.version, read=DealRead, stale=StaleDeal, change=change)

    session.expire_all()
    assert session.get(Deal, deal.id).name == "Before"  # type: ignore[union-attr]


def test_a_current_version_lets_the_change_through(session: Session) -> None:
    deal = make_deal(session)
    session.info[REFUSAL_ENDS_REQUEST] = True

    before, result = change_versioned(
        session, deal, deal.version, read=DealRead, stale=StaleDeal, change=lambda: "done"
    )

    assert (before.id, result) == (deal.id, "done")


def test_a_locked_load_reads_the_row_as_stored_even_when_loaded_before(session: Session) -> None:
    deal = make_deal(session)
    loaded = deal.version
    _commit_elsewhere(session, deal, name="Stored since")
    admin = make_user(session, role=Role.ADMIN)

    locked = access.get_visible(session, Deal, deal.id, admin, for_update=True)

    assert locked is deal
    assert (locked.name, locked.version) == ("Stored since", loaded + 1)


def test_a_locked_load_locks_only_the_records_own_row(session: Session) -> None:
    admin = make_user(session, role=Role.ADMIN)
    stmt = access._statement(Deal, admin, (joinedload(Deal.stage),), for_update=True)

    sql = str(stmt.compile(dialect=postgresql.dialect()))

    assert sql.endswith("FOR UPDATE OF deals")
