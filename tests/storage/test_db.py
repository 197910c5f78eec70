"""Database plumbing: duplicates refused by a unique constraint become the caller's error."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tests.factories import make_account
from topline.crm.models import Account, Pipeline
from topline.errors import Conflict
from topline.storage.db import refuse_duplicates


def test_a_duplicate_raises_the_given_error_and_the_transaction_goes_on(
    session: Session,
) -> None:
    session.add(Pipeline(name="Renewals", is_default=False))
    session.flush()
    taken = Conflict("name: taken", details={"field": "name"})

    with pytest.raises(Conflict) as raised, refuse_duplicates(session, taken):
        session.add(Pipeline(name="Renewals", is_default=False))

    assert raised.value is taken
    assert isinstance(raised.value.__cause__, IntegrityError)
    assert session.scalar(select(func.count()).select_from(Pipeline)) == 1


def test_other_constraint_violations_pass_through_unchanged(session: Session) -> None:
    account = make_account(session)

    with pytest.raises(IntegrityError), refuse_duplicates(session, Conflict("unused")):
        account.employees = -1  # breaks a check constraint, not a unique one

    assert session.scalar(select(Account.employees).where(Account.id == account.id)) is None
