"""Explanations: per-field contributions turned into probability points a person can read."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests.scoring.helpers import synthetic_deals
from topline.scoring.estimators import TabularScorer
from topline.scoring.explain import Factor, explain, format_points, format_value


@pytest.mark.parametrize(
    ("factor", "text"),
    [
        (Factor("Region", "Pacific", 4.2), "Region = Pacific: +4 pts"),
        (
            Factor("Opportunity Amount USD", 250_000, -12.3),
            "Opportunity Amount USD = 250,000: −12 pts",
        ),
        (Factor("Amount", 250_000.0, 0.6), "Amount = 250,000: +1 pt"),
        (Factor("Ratio", 0.25, -1.4), "Ratio = 0.25: −1 pt"),
        (Factor("Close-date pushes", np.int64(3), -12.0), "Close-date pushes = 3: −12 pts"),
        (Factor("Competitor Type", math.nan, -2.0), "Competitor Type = missing: −2 pts"),
        (Factor("Champion", True, 7.0), "Champion = yes: +7 pts"),
    ],
)
def test_a_factor_reads_as_field_value_and_signed_points(factor: Factor, text: str) -> None:
    assert factor.describe() == text


def test_values_and_points_are_formatted_for_people() -> None:
    assert format_value(None) == "missing"
    assert format_value("  ") == "missing"
    assert format_value(1234.5) == "1,234.5"
    assert format_points(-0.4) == "+0 pts"
    assert format_points(-1.6) == "−2 pts"


@pytest.fixture(scope="module")
def fitted() -> tuple[TabularScorer, pd.DataFrame]:
    frame, won = synthetic_deals(rows=1500, seed=7)
    scorer = TabularScorer(isotonic_min_rows=10_000).fit(frame.iloc[:1200], won[:1200])
    return scorer, frame.iloc[1200:1260]


def test_explanations_list_the_strongest_pushes_each_way(
    fitted: tuple[TabularScorer, pd.DataFrame],
) -> None:
    scorer, records = fitted
    explanations = explain(scorer, records, top=2)
    assert len(explanations) == len(records)
    np.testing.assert_allclose(
        [e.probability for e in explanations], scorer.predict_proba(records)[:, 1]
    )
    for explanation in explanations:
        assert len(explanation.up) <= 2 and len(explanation.down) <= 2
        assert all(f.points >= 0.5 for f in explanation.up)
        assert all(f.points <= -0.5 for f in explanation.down)
        assert [f.points for f in explanation.up] == sorted(
            (f.points for f in explanation.up), reverse=True
        )
        assert [f.points for f in explanation.down] == sorted(f.points for f in explanation.down)
        assert explanation.describe() == [f.describe() for f in (*explanation.up,
                                                                 *explanation.down)]  # fmt: skip


def test_points_follow_the_sign_of_each_contribution(
    fitted: tuple[TabularScorer, pd.DataFrame],
) -> None:
    scorer, records = fitted
    contributions = scorer.contributions(records)
    for row, explanation in enumerate(explain(scorer, records, top=10, min_points=0.0)):
        for factor in (*explanation.up, *explanation.down):
            assert np.sign(factor.points) == np.sign(contributions.iloc[row][factor.feature])
            expected = records.iloc[row][factor.feature]
            assert format_value(factor.value) == format_value(expected)


def test_a_region_that_wins_more_pushes_up_and_one_that_loses_pushes_down(
    fitted: tuple[TabularScorer, pd.DataFrame],
) -> None:
    scorer, _ = fitted
    records = pd.DataFrame(
        {
            "region": ["North", "South"],
            "source": ["web", "web"],
            "amount": [22_000.0, 22_000.0],
            "employees": [3, 3],
        }
    )
    north, south = explain(scorer, records, top=4)
    assert "region" in [f.feature for f in north.up]
    assert "region" in [f.feature for f in south.down]
    assert north.probability > south.probability


def test_a_blended_scorer_is_explained_by_its_blended_contributions() -> None:
    frame, won = synthetic_deals(rows=1500, seed=7)
    scorer = TabularScorer(linear_blend=True, isotonic_min_rows=10_000).fit(
        frame.iloc[:1200], won[:1200]
    )
    assert 0.0 < scorer.blend_weight_ < 1.0  # both parts take part
    records = frame.iloc[1200:1260]
    contributions = scorer.contributions(records)
    np.testing.assert_allclose(
        contributions.sum(axis=1).to_numpy() + scorer.base_log_odds_,
        scorer.decision_function(records),
        atol=1e-9,
    )
    explanations = explain(scorer, records, top=10, min_points=0.0)
    np.testing.assert_allclose(
        [e.probability for e in explanations], scorer.predict_proba(records)[:, 1]
    )
    for row, explanation in enumerate(explanations):
        for factor in (*explanation.up, *explanation.down):
            # The points are the calibrated probability with the blended push minus without it.
            log_odds = scorer.decision_function(records.iloc[[row]])
            without = log_odds - contributions.iloc[row][factor.feature]
            expected = 100.0 * (
                scorer.probability_from_log_odds(log_odds)
                - scorer.probability_from_log_odds(without)
            )
            assert factor.points == pytest.approx(float(expected[0]))
