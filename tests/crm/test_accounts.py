"""Editing accounts and contacts against the version the editor read."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from tests.factories import make_account, make_contact
from topline.crm.accounts import update_account, update_contact
from topline.crm.errors import StaleAccount, StaleContact
from topline.crm.models import Account, Contact
from topline.crm.schemas import AccountUpdate, ContactUpdate


def overtake(
    session: Session, model: type[Account | Contact], record_id: int, **values: Any
) -> None:
    """Change a row behind the ORM's back, as another transaction committing would."""
    table = model.__table__
    assert isinstance(table, Table)
    session.execute(
        update(table).where(table.c.id == record_id).values(version=table.c.version + 1, **values)
    )


class TestUpdateAccount:
    def test_every_write_raises_the_version(self, session: Session) -> None:
        account = make_account(session, industry="Software")
        assert account.version == 1

        update_account(session, account, changes=AccountUpdate(industry="Fintech"))
        update_account(session, account, changes=AccountUpdate(region="EMEA"), expected_version=2)

        stored = session.execute(
            select(Account.industry, Account.region, Account.version).where(
                Account.id == account.id
            )
        ).one()
        assert tuple(stored) == ("Fintech", "EMEA", 3)

    def test_an_edit_that_changes_nothing_keeps_the_version(self, session: Session) -> None:
        account = make_account(session, industry="Software")

        update_account(session, account, changes=AccountUpdate(industry="Software"))

        assert account.version == 1

    def test_a_stale_expected_version_is_refused_before_anything_changes(
        self, session: Session
    ) -> None:
        account = make_account(session, industry="Software")
        update_account(session, account, changes=AccountUpdate(industry="Fintech"))

        with pytest.raises(StaleAccount, match="changed since version 1 \\(now 2\\)"):
            update_account(
                session, account, changes=AccountUpdate(industry="Retail"), expected_version=1
            )

        assert (account.industry, account.version) == ("Fintech", 2)

    def test_a_write_overtaken_after_the_read_is_stale(self, session: Session) -> None:
        account = make_account(session, industry="Software")
        overtake(session, Account, account.id, industry="Mining")

        with pytest.raises(StaleAccount, match="changed by someone else"), session.begin_nested():
            update_account(
                session, account, changes=AccountUpdate(region="APAC"), expected_version=1
            )

        session.refresh(account)
        assert (account.industry, account.region, account.version) == ("Mining", None, 2)


class TestUpdateContact:
    def test_every_write_raises_the_version(self, session: Session) -> None:
        contact = make_contact(session, title="CTO")

        update_contact(session, contact, changes=ContactUpdate(title="CFO"), expected_version=1)

        assert (contact.title, contact.version) == ("CFO", 2)

    def test_a_stale_expected_version_is_refused_before_anything_changes(
        self, session: Session
    ) -> None:
        contact = make_contact(session, title="CTO")
        update_contact(session, contact, changes=ContactUpdate(title="CFO"))

        with pytest.raises(StaleContact, match=r"contact \d+ changed since version 1"):
            update_contact(session, contact, changes=ContactUpdate(phone="1"), expected_version=1)

        assert (contact.title, contact.phone, contact.version) == ("CFO", None, 2)

    def test_a_write_overtaken_after_the_read_is_stale(self, session: Session) -> None:
        contact = make_contact(session, title="CTO")
        overtake(session, Contact, contact.id, title="CEO")

        with pytest.raises(StaleContact, match="changed by someone else"), session.begin_nested():
            update_contact(session, contact, changes=ContactUpdate(phone="1"), expected_version=1)

        session.refresh(contact)
        assert (contact.title, contact.phone, contact.version) == ("CEO", None, 2)
