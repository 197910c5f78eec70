"""Defining pipelines and editing their stages: names stay unique even when two definitions
race; a stage in use is never deleted; positions stay 1, 2, … with the open stages first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import T0, make_deal, make_pipeline, open_stages, stage_named
from topline.crm import pipelines as pipeline_service
from topline.crm.deals import move_deal_to_stage
from topline.crm.enums import StageType
from topline.crm.errors import InvalidPipeline, InvalidStageChange, StageInUse, StageNameTaken
from topline.crm.models import Pipeline
from topline.crm.pipelines import (
    StageSpec,
    add_stage,
    change_stage,
    create_pipeline,
    delete_stage,
    list_stages,
    reorder_stages,
)
from topline.errors import Conflict


def test_a_taken_name_is_a_conflict_naming_the_field(session: Session) -> None:
    create_pipeline(session, name="Renewals")

    with pytest.raises(Conflict, match="name: a pipeline called 'Renewals' already exists"):
        create_pipeline(session, name=" Renewals ")


def test_a_name_taken_after_the_check_is_the_same_conflict(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_pipeline(session, name="Renewals")
    # Another request created it between our check and our write: the constraint refuses.
    monkeypatch.setattr(pipeline_service, "find_pipeline_by_name", lambda session, name: None)

    with pytest.raises(Conflict, match="already exists") as raised:
        create_pipeline(session, name="Renewals")

    assert raised.value.details == {"field": "name"}
    assert list(session.scalars(select(Pipeline.name))) == ["Renewals"]


def _stages(session: Session, pipeline: Pipeline) -> list[tuple[int, str, str]]:
    """The pipeline's stages as (position, name, type), in order."""
    return [(s.position, s.name, s.type.value) for s in list_stages(session, pipeline.id)]


def _names(session: Session, pipeline: Pipeline) -> list[str]:
    return [name for _, name, _ in _stages(session, pipeline)]


DEFAULT_NAMES = [
    "Prospecting", "Qualification", "Discovery", "Proposal", "Negotiation", "Closed Won",
    "Closed Lost",
]  # fmt: skip


class TestChangeStage:
    def test_a_stage_is_renamed_and_its_probability_changed(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        won = stage_named(session, pipeline, "Closed Won")

        change_stage(session, won, name=" Signed ", probability=0.95)

        assert (won.name, won.probability, won.position) == ("Signed", 0.95, 6)

    def test_a_name_taken_in_another_letter_case_is_refused(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        proposal = stage_named(session, pipeline, "Proposal")

        with pytest.raises(
            StageNameTaken, match="already has a stage called 'discovery'"
        ) as raised:
            change_stage(session, proposal, name="discovery", probability=0.5)

        assert raised.value.details == {"field": "name"}
        assert (proposal.name, proposal.probability) == ("Proposal", 0.6)

    def test_the_same_name_in_another_case_or_another_pipeline_is_fine(
        self, session: Session
    ) -> None:
        pipeline = make_pipeline(session)
        make_pipeline(session)
        proposal = stage_named(session, pipeline, "Proposal")

        change_stage(session, proposal, name="PROPOSAL")

        assert proposal.name == "PROPOSAL"

    def test_a_name_taken_after_the_check_is_the_same_conflict(
        self, session: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        pipeline = make_pipeline(session)
        proposal = stage_named(session, pipeline, "Proposal")
        # Another request took the name between our check and our write: the constraint refuses.
        monkeypatch.setattr(pipeline_service, "list_stages", lambda session, pipeline_id: [])

        with pytest.raises(StageNameTaken, match="'Discovery'"):
            change_stage(session, proposal, name="Discovery")

        monkeypatch.undo()
        session.expire_all()
        assert _names(session, pipeline) == DEFAULT_NAMES

    @pytest.mark.parametrize(
        ("name", "probability", "problem"),
        [(" ", None, "needs a name"), (None, 1.5, "between 0 and 1"), (None, -0.1, "between")],
    )
    def test_a_blank_name_or_a_probability_out_of_range_is_refused(
        self, session: Session, name: str | None, probability: float | None, problem: str
    ) -> None:
        stage = stage_named(session, make_pipeline(session), "Proposal")

        with pytest.raises(InvalidPipeline, match=problem):
            change_stage(session, stage, name=name, probability=probability)

        assert (stage.name, stage.probability) == ("Proposal", 0.6)


class TestAddStage:
    def test_an_open_stage_goes_at_its_position_and_the_rest_move_down(
        self, session: Session
    ) -> None:
        pipeline = make_pipeline(session)

        stage = add_stage(session, pipeline, name="Demo", probability=0.5, position=4)

        assert (stage.position, stage.type) == (4, StageType.OPEN)
        assert _stages(session, pipeline) == [
            (1, "Prospecting", "open"), (2, "Qualification", "open"), (3, "Discovery", "open"),
            (4, "Demo", "open"), (5, "Proposal", "open"), (6, "Negotiation", "open"),
            (7, "Closed Won", "won"), (8, "Closed Lost", "lost"),
        ]  # fmt: skip

    def test_without_a_position_it_follows_the_last_open_stage(self, session: Session) -> None:
        pipeline = make_pipeline(session)

        add_stage(session, pipeline, name="Legal", probability=0.9)

        assert _names(session, pipeline)[4:] == [
            "Negotiation",
            "Legal",
            "Closed Won",
            "Closed Lost",
        ]

    @pytest.mark.parametrize("position", [0, 7, 99])
    def test_a_position_past_the_open_stages_is_refused(
        self, session: Session, position: int
    ) -> None:
        pipeline = make_pipeline(session)

        with pytest.raises(InvalidStageChange, match="position 1 to 6") as raised:
            add_stage(session, pipeline, name="Legal", probability=0.9, position=position)

        assert raised.value.details == {"field": "position"}
        assert _names(session, pipeline) == DEFAULT_NAMES

    def test_a_taken_name_is_refused(self, session: Session) -> None:
        pipeline = make_pipeline(session)

        with pytest.raises(StageNameTaken):
            add_stage(session, pipeline, name="closed lost", probability=0.1, position=1)

        assert _names(session, pipeline) == DEFAULT_NAMES


class TestReorderStages:
    def test_open_stages_take_the_new_order_and_closed_ones_follow(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        opened = open_stages(session, pipeline)

        reorder_stages(session, pipeline, stage_ids=[s.id for s in reversed(opened)])

        assert _stages(session, pipeline) == [
            (1, "Negotiation", "open"), (2, "Proposal", "open"), (3, "Discovery", "open"),
            (4, "Qualification", "open"), (5, "Prospecting", "open"),
            (6, "Closed Won", "won"), (7, "Closed Lost", "lost"),
        ]  # fmt: skip

    def test_closed_stages_are_moved_after_the_open_ones(self, session: Session) -> None:
        pipeline = create_pipeline(
            session,
            name="Mixed",
            stages=[
                StageSpec("Won", 1.0, StageType.WON),
                StageSpec("Talk", 0.2),
                StageSpec("Lost", 0.0, StageType.LOST),
                StageSpec("Offer", 0.6),
            ],
        )
        talk, offer = open_stages(session, pipeline)

        reorder_stages(session, pipeline, stage_ids=[offer.id, talk.id])

        assert _stages(session, pipeline) == [
            (1, "Offer", "open"), (2, "Talk", "open"), (3, "Won", "won"), (4, "Lost", "lost"),
        ]  # fmt: skip

    def test_advancing_follows_the_new_order(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        first, second, *rest = open_stages(session, pipeline)

        reorder_stages(session, pipeline, stage_ids=[second.id, first.id, *(s.id for s in rest)])

        assert second.position < first.position

    @pytest.mark.parametrize("change", ["missing", "twice", "closed", "foreign"])
    def test_a_list_other_than_the_open_stages_is_refused(
        self, session: Session, change: str
    ) -> None:
        pipeline = make_pipeline(session)
        other = make_pipeline(session)
        ids = [s.id for s in open_stages(session, pipeline)]
        stage_ids = {
            "missing": ids[1:],
            "twice": [*ids[:-1], ids[0]],
            "closed": [*ids[:-1], stage_named(session, pipeline, "Closed Won").id],
            "foreign": [*ids[:-1], open_stages(session, other)[0].id],
        }[change]

        with pytest.raises(InvalidStageChange, match="each open stage") as raised:
            reorder_stages(session, pipeline, stage_ids=stage_ids)

        assert raised.value.details == {"field": "stage_ids"}
        assert _names(session, pipeline) == DEFAULT_NAMES


class TestDeleteStage:
    def test_an_unused_open_stage_goes_and_the_positions_close_up(self, session: Session) -> None:
        pipeline = make_pipeline(session)

        delete_stage(session, stage_named(session, pipeline, "Qualification"))

        assert [position for position, _, _ in _stages(session, pipeline)] == [1, 2, 3, 4, 5, 6]
        assert "Qualification" not in _names(session, pipeline)

    def test_a_stage_holding_deals_is_refused_saying_how_many(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        proposal = stage_named(session, pipeline, "Proposal")
        for _ in range(12):
            make_deal(session, pipeline=pipeline, stage=proposal)

        with pytest.raises(StageInUse, match="move its 12 deals to another stage first") as raised:
            delete_stage(session, proposal)

        assert raised.value.details == {"deals": 12}
        assert _names(session, pipeline) == DEFAULT_NAMES

    def test_a_stage_deals_have_passed_through_is_refused(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        first, second, *_ = open_stages(session, pipeline)
        deal = make_deal(session, pipeline=pipeline, stage=first)
        move_deal_to_stage(session, deal, stage=second, actor=None, at=T0 + timedelta(days=1))

        with pytest.raises(StageInUse, match="history of deals") as raised:
            delete_stage(session, first)

        assert raised.value.details == {"history_rows": 1}
        assert _names(session, pipeline) == DEFAULT_NAMES

    @pytest.mark.parametrize("name", ["Closed Won", "Closed Lost"])
    def test_a_closed_stage_is_refused(self, session: Session, name: str) -> None:
        pipeline = make_pipeline(session)

        with pytest.raises(InvalidStageChange, match="only open stages"):
            delete_stage(session, stage_named(session, pipeline, name))

    def test_the_last_open_stage_is_refused(self, session: Session) -> None:
        pipeline = make_pipeline(session)
        *others, last = open_stages(session, pipeline)
        for stage in others:
            delete_stage(session, stage)

        with pytest.raises(InvalidStageChange, match="last open stage"):
            delete_stage(session, last)

        assert _stages(session, pipeline) == [
            (1, "Negotiation", "open"), (2, "Closed Won", "won"), (3, "Closed Lost", "lost"),
        ]  # fmt: skip


def test_a_new_pipeline_refuses_stage_names_differing_only_in_case(session: Session) -> None:
    with pytest.raises(StageNameTaken):
        create_pipeline(
            session,
            name="Cased",
            stages=[
                StageSpec("Talk", 0.2),
                StageSpec("TALK", 0.3),
                StageSpec("Won", 1.0, StageType.WON),
                StageSpec("Lost", 0.0, StageType.LOST),
            ],
        )


class TestConcurrentChanges:
    def test_a_reorder_that_missed_a_new_stage_is_a_conflict_changing_nothing(
        self, session: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        pipeline = make_pipeline(session)
        # Read before another request added the first stage: this reorder does not know of it.
        known = list_stages(session, pipeline.id)[1:]
        monkeypatch.setattr(pipeline_service, "list_stages", lambda session, pipeline_id: known)
        opened = [s.id for s in known if s.type == StageType.OPEN]

        with pytest.raises(Conflict, match="changed meanwhile"):
            reorder_stages(session, pipeline, stage_ids=opened[::-1])

        monkeypatch.undo()
        session.expire_all()
        assert _names(session, pipeline) == DEFAULT_NAMES

    def test_a_refused_renumbering_leaves_no_new_stage_behind(
        self, session: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        pipeline = make_pipeline(session)

        def clash(*args: object) -> None:
            raise Conflict("the stages of the pipeline changed meanwhile")

        monkeypatch.setattr(pipeline_service, "_renumber", clash)

        with pytest.raises(Conflict):
            add_stage(session, pipeline, name="Demo", probability=0.5, position=1)
        with pytest.raises(Conflict):
            delete_stage(session, stage_named(session, pipeline, "Qualification"))

        session.expire_all()
        assert _names(session, pipeline) == DEFAULT_NAMES
