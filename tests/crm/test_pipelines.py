"""Defining pipelines: names stay unique even when two definitions race."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from topline.crm import pipelines as pipeline_service
from topline.crm.models import Pipeline
from topline.crm.pipelines import create_pipeline
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
