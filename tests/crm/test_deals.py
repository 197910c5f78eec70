from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import (
    T0,
    make_account,
    make_contact,
    make_deal,
    make_pipeline,
    make_user,
    stage_named,
)
from tests.helpers import assert_history_marks
from topline.crm.deals import (
    change_deal_owner,
    close_deal_lost,
    close_deal_won,
    create_deal,
    get_deal,
    move_deal_to_stage,
    reopen_deal,
    update_deal,
)
from topline.crm.enums import DealType, ForecastCategory
from topline.crm.errors import (
    ContactAtOtherAccount,
    DealAlreadyClosed,
    DealNotClosed,
    DealNotFound,
    DealOwnerInactive,
    InvalidDeal,
    InvalidStageTransition,
    StaleDeal,
)
from topline.crm.history import DealState, deal_history, deal_state_as_of, replay
from topline.crm.models import Deal, DealHistory
from topline.crm.schemas import DealUpdate

DAY = timedelta(days=1)


class TestCreateDeal:
    def test_creates_deal_with_one_open_history_row(self, session: Session) -> None:
        deal = make_deal(session, amount_cents=25_000_00)

        rows = deal_history(session, deal.id)
        assert len(rows) == 1
        assert rows[0].changed_fields == "created"
        assert rows[0].valid_from == T0
        assert rows[0].valid_to is None
        assert DealState.of(rows[0]) == DealState.of(deal)
        assert deal.version == 1
        assert deal.forecast_category == ForecastCategory.PIPELINE

    def test_defaults_to_first_open_stage_of_default_pipeline(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        owner = make_user(session)

        deal = create_deal(
            session,
            actor=owner,
            name="Expansion",
            owner=owner,
            amount_cents=1,
            close_date=date(2025, 2, 1),
            at=T0,
        )

        assert deal.stage_id == stage_named(session, pipeline, "Prospecting").id

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"amount_cents": -1}, "must not be negative"),
            ({"amount_cents": 10.5}, "whole number of cents"),
            ({"amount_cents": True}, "whole number of cents"),
            ({"name": "   "}, "name must not be empty"),
            ({"recurring_amount_cents": -5}, "must not be negative"),
            ({"forecast_category": ForecastCategory.CLOSED}, "set by winning"),
        ],
    )
    def test_rejects_bad_values(self, session: Session, overrides: dict, message: str) -> None:
        with pytest.raises(InvalidDeal, match=message):
            make_deal(session, **overrides)

    def test_accepts_a_close_date_before_creation_as_given(self, session: Session) -> None:
        # Imports bring deals that closed (or slipped) long ago; hygiene flags the date.
        deal = make_deal(session, close_date=date(2024, 11, 30), at=T0)

        assert deal.close_date == date(2024, 11, 30)
        (row,) = deal_history(session, deal.id)
        assert row.close_date == date(2024, 11, 30)

    def test_rejects_closed_stage(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        with pytest.raises(InvalidStageTransition, match="open stage"):
            make_deal(session, stage=stage_named(session, pipeline, "Closed Won"))

    def test_rejects_inactive_owner_as_a_conflict(self, session: Session) -> None:
        owner = make_user(session, active=False)
        with pytest.raises(DealOwnerInactive, match="inactive"):
            make_deal(session, owner=owner)
        assert session.scalar(select(func.count()).where(Deal.owner_id == owner.id)) == 0

    def test_rejects_contact_of_another_account_naming_the_field(self, session: Session) -> None:
        owner = make_user(session)
        account = make_account(session, owner=owner)
        with pytest.raises(ContactAtOtherAccount, match="another account") as refused:
            make_deal(session, owner=owner, account=account, contact=make_contact(session))
        assert refused.value.details == {"field": "contact_id"}
        assert session.scalar(select(func.count()).where(Deal.account_id == account.id)) == 0

    def test_contact_without_account_gives_the_deal_the_contacts_account(
        self, session: Session
    ) -> None:
        contact = make_contact(session)

        deal = make_deal(session, contact=contact)

        assert (deal.account_id, deal.contact_id) == (contact.account_id, contact.id)

    def test_get_deal_unknown_id_raises_not_found(self, session: Session) -> None:
        with pytest.raises(DealNotFound, match="deal 987654 not found"):
            get_deal(session, 987654)


class TestStageMoves:
    def test_move_records_history_and_closes_previous_row(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        deal = make_deal(session, pipeline=pipeline)
        discovery = stage_named(session, pipeline, "Discovery")

        move_deal_to_stage(session, deal, stage=discovery, actor=None, at=T0 + 3 * DAY)

        first, second = deal_history(session, deal.id)
        assert first.valid_to == T0 + 3 * DAY
        assert second.valid_from == T0 + 3 * DAY
        assert second.changed_fields == "stage"
        assert second.stage_id == discovery.id
        assert deal.version == 2

    def test_move_to_same_stage_changes_nothing(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        deal = make_deal(session, pipeline=pipeline)

        move_deal_to_stage(
            session,
            deal,
            stage=stage_named(session, pipeline, "Prospecting"),
            actor=None,
            at=T0 + DAY,
        )

        assert len(deal_history(session, deal.id)) == 1
        assert deal.version == 1

    def test_move_to_won_stage_is_refused(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        deal = make_deal(session, pipeline=pipeline)
        with pytest.raises(InvalidStageTransition, match="close_deal_won"):
            move_deal_to_stage(
                session, deal, stage=stage_named(session, pipeline, "Closed Won"), actor=None, at=T0
            )

    def test_move_to_stage_of_other_pipeline_is_refused(self, session: Session) -> None:
        deal = make_deal(session, pipeline=make_pipeline(session))
        other = make_pipeline(session)
        with pytest.raises(InvalidStageTransition, match="another pipeline"):
            move_deal_to_stage(
                session, deal, stage=stage_named(session, other, "Discovery"), actor=None, at=T0
            )

    def test_change_before_last_change_is_refused(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        deal = make_deal(session, pipeline=pipeline)
        move_deal_to_stage(
            session,
            deal,
            stage=stage_named(session, pipeline, "Discovery"),
            actor=None,
            at=T0 + 5 * DAY,
        )
        with pytest.raises(InvalidDeal, match="predates the deal's last recorded change"):
            move_deal_to_stage(
                session,
                deal,
                stage=stage_named(session, pipeline, "Proposal"),
                actor=None,
                at=T0 + 2 * DAY,
            )

    def test_change_before_creation_is_refused(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        deal = make_deal(session, pipeline=pipeline)
        with pytest.raises(InvalidDeal, match="predates the deal's creation"):
            move_deal_to_stage(
                session,
                deal,
                stage=stage_named(session, pipeline, "Discovery"),
                actor=None,
                at=T0 - DAY,
            )


class TestClosing:
    def test_close_won_sets_stage_category_and_dates(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        deal = make_deal(session, pipeline=pipeline, close_date=date(2025, 3, 31))
        won_at = T0 + 20 * DAY

        close_deal_won(session, deal, actor=None, at=won_at, amount_cents=12_000_00)

        assert deal.stage_id == stage_named(session, pipeline, "Closed Won").id
        assert deal.forecast_category == ForecastCategory.CLOSED
        assert deal.closed_at == won_at
        assert deal.close_date == won_at.date()
        assert deal.amount_cents == 12_000_00
        last = deal_history(session, deal.id)[-1]
        assert set(last.changed_fields.split(",")) == {
            "stage",
            "amount",
            "close_date",
            "forecast_category",
        }

    def test_closing_a_closed_deal_is_refused(self, session: Session) -> None:
        deal = make_deal(session)
        close_deal_won(session, deal, actor=None, at=T0 + DAY)
        with pytest.raises(DealAlreadyClosed, match="already won"):
            close_deal_won(session, deal, actor=None, at=T0 + 2 * DAY)
        with pytest.raises(DealAlreadyClosed, match="already won"):
            close_deal_lost(session, deal, loss_reason="Price", actor=None, at=T0 + 2 * DAY)

    @pytest.mark.parametrize("reason", ["", "   "])
    def test_close_lost_requires_reason(self, session: Session, reason: str) -> None:
        deal = make_deal(session)
        with pytest.raises(InvalidDeal, match="loss reason"):
            close_deal_lost(session, deal, loss_reason=reason, actor=None, at=T0 + DAY)
        assert deal.closed_at is None

    def test_close_lost_records_reason_and_omits_from_forecast(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        deal = make_deal(session, pipeline=pipeline)

        close_deal_lost(session, deal, loss_reason=" Lost to competitor ", actor=None, at=T0 + DAY)

        assert deal.loss_reason == "Lost to competitor"
        assert deal.stage_id == stage_named(session, pipeline, "Closed Lost").id
        assert deal.forecast_category == ForecastCategory.OMITTED

    def test_reopen_puts_deal_back_in_open_stage(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        deal = make_deal(session, pipeline=pipeline)
        close_deal_lost(session, deal, loss_reason="Timing", actor=None, at=T0 + DAY)

        reopen_deal(
            session,
            deal,
            stage=stage_named(session, pipeline, "Discovery"),
            close_date=date(2025, 6, 30),
            actor=None,
            at=T0 + 10 * DAY,
        )

        assert deal.closed_at is None
        assert deal.loss_reason is None
        assert deal.forecast_category == ForecastCategory.PIPELINE
        assert replay(deal_history(session, deal.id)) == DealState.of(deal)

    def test_reopen_open_deal_is_refused(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        deal = make_deal(session, pipeline=pipeline)
        with pytest.raises(DealNotClosed):
            reopen_deal(
                session,
                deal,
                stage=stage_named(session, pipeline, "Discovery"),
                close_date=date(2025, 6, 30),
                actor=None,
                at=T0 + DAY,
            )

    def test_reopen_with_past_close_date_keeps_the_date_as_given(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        deal = make_deal(session, pipeline=pipeline)
        close_deal_won(session, deal, actor=None, at=T0 + DAY)

        reopen_deal(
            session,
            deal,
            stage=stage_named(session, pipeline, "Discovery"),
            close_date=date(2025, 1, 1),
            actor=None,
            at=T0 + 2 * DAY,
        )

        assert deal.close_date == date(2025, 1, 1)
        assert deal.closed_at is None
        assert deal_history(session, deal.id)[-1].close_date == date(2025, 1, 1)
        assert replay(deal_history(session, deal.id)) == DealState.of(deal)


class TestUpdateDeal:
    def test_amount_and_close_date_push_recorded(self, session: Session) -> None:
        deal = make_deal(session, amount_cents=10_000_00, close_date=date(2025, 3, 31))

        update_deal(
            session,
            deal,
            actor=None,
            at=T0 + 7 * DAY,
            changes=DealUpdate(amount_cents=8_000_00, close_date=date(2025, 4, 30)),
        )

        last = deal_history(session, deal.id)[-1]
        assert last.changed_fields == "amount,close_date"
        assert (last.amount_cents, last.close_date) == (8_000_00, date(2025, 4, 30))

    def test_close_date_may_move_before_the_deal_was_created(self, session: Session) -> None:
        deal = make_deal(session, close_date=date(2025, 3, 31))

        update_deal(
            session,
            deal,
            actor=None,
            at=T0 + DAY,
            changes=DealUpdate(close_date=date(2024, 12, 15)),
        )

        assert deal.close_date == date(2024, 12, 15)
        assert deal_history(session, deal.id)[-1].close_date == date(2024, 12, 15)

    def test_untracked_field_changes_no_history(self, session: Session) -> None:
        deal = make_deal(session)
        update_deal(
            session, deal, actor=None, at=T0 + DAY, changes=DealUpdate(next_step="Send MSA")
        )
        assert deal.next_step == "Send MSA"
        assert len(deal_history(session, deal.id)) == 1

    def test_stale_version_is_refused(self, session: Session) -> None:
        deal = make_deal(session)
        update_deal(session, deal, actor=None, at=T0 + DAY, changes=DealUpdate(amount_cents=1))
        with pytest.raises(StaleDeal, match="changed since version 1"):
            update_deal(
                session,
                deal,
                actor=None,
                at=T0 + 2 * DAY,
                expected_version=1,
                changes=DealUpdate(amount_cents=2),
            )
        assert deal.amount_cents == 1

    def test_closed_deal_amount_cannot_change(self, session: Session) -> None:
        deal = make_deal(session)
        close_deal_won(session, deal, actor=None, at=T0 + DAY)
        with pytest.raises(DealAlreadyClosed, match="reopen it"):
            update_deal(
                session, deal, actor=None, at=T0 + 2 * DAY, changes=DealUpdate(amount_cents=5)
            )

    def test_required_field_cannot_be_cleared(self, session: Session) -> None:
        from pydantic import ValidationError

        with pytest.raises(ValidationError, match="amount_cents must not be null"):
            DealUpdate(amount_cents=None)
        # The service holds the rule too, for changes built without validation.
        deal = make_deal(session)
        unchecked = DealUpdate.model_construct(amount_cents=None)
        with pytest.raises(InvalidDeal, match="amount_cents: cannot be cleared"):
            update_deal(session, deal, actor=None, at=T0 + DAY, changes=unchecked)

    def test_schema_rejects_negative_and_unknown_fields(self) -> None:
        from pydantic import ValidationError

        with pytest.raises(ValidationError):
            DealUpdate(amount_cents=-1)
        with pytest.raises(ValidationError):
            DealUpdate.model_validate({"stage_id": 3})
        with pytest.raises(ValidationError):
            DealUpdate.model_validate({"amount_cents": "100"})
        with pytest.raises(ValidationError, match="forecast_category"):
            DealUpdate.model_validate({"forecast_category": "closed"})


def test_change_owner_recorded_and_state_as_of_reads_past(session: Session) -> None:
    first_owner = make_user(session)
    second_owner = make_user(session)
    deal = make_deal(session, owner=first_owner)

    change_deal_owner(session, deal, owner=second_owner, actor=None, at=T0 + 10 * DAY)

    assert deal_state_as_of(session, deal.id, T0 - DAY) is None
    assert deal_state_as_of(session, deal.id, T0 + 5 * DAY).owner_id == first_owner.id
    assert deal_state_as_of(session, deal.id, T0 + 10 * DAY).owner_id == second_owner.id
    open_rows = session.scalar(
        select(func.count()).where(DealHistory.deal_id == deal.id, DealHistory.valid_to.is_(None))
    )
    assert open_rows == 1


def test_history_rows_repeat_the_deals_subscription_fields_as_they_are_now(
    session: Session,
) -> None:
    """Each history row copies the deal's account, type and recurring amount; editing those
    (not tracked) rewrites the copies on every row and adds none."""
    account = make_account(session)
    deal = make_deal(session, account=account, recurring_amount_cents=100_00)
    update_deal(session, deal, changes=DealUpdate(amount_cents=20_000_00), actor=None, at=T0 + DAY)
    close_deal_won(session, deal, actor=None, at=T0 + 2 * DAY)
    assert _copies(session, deal) == [(account.id, DealType.NEW_BUSINESS, 100_00)] * 3

    update_deal(
        session, deal,
        changes=DealUpdate(recurring_amount_cents=None, type=DealType.RENEWAL),
        actor=None, at=T0 + 3 * DAY,
    )  # fmt: skip

    rows = deal_history(session, deal.id)
    assert [r.changed_fields for r in rows] == [
        "created",
        "amount",
        "stage,forecast_category,close_date",
    ]
    assert _copies(session, deal) == [(account.id, DealType.RENEWAL, None)] * 3
    assert assert_history_marks(session) == 3


def _copies(session: Session, deal: Deal) -> list[tuple[object, ...]]:
    rows = deal_history(session, deal.id)
    return [(row.account_id, row.deal_type, row.recurring_amount_cents) for row in rows]


def test_history_current_row_is_unique_in_database(session: Session) -> None:
    """The partial unique index refuses a second open row even if code forgot to close one."""
    from sqlalchemy.exc import IntegrityError

    deal = make_deal(session)
    row = deal_history(session, deal.id)[0]
    duplicate = DealHistory(
        deal_id=deal.id,
        valid_from=row.valid_from,
        valid_to=None,
        changed_fields="x",
        stage_id=row.stage_id,
        amount_cents=1,
        close_date=row.close_date,
        forecast_category=row.forecast_category,
        owner_id=row.owner_id,
    )
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(duplicate)
        session.flush()
