"""The scorers: the naive Bayes against hand-computed numbers, the calibrated LightGBM scorer
against the estimator contract (determinism, probabilities, unknown values, contributions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from tests.scoring.helpers import synthetic_deals
from topline.scoring.encoding import infer_columns
from topline.scoring.estimators import (
    BLEND_WEIGHTS,
    FrequencyScorer,
    LinearTerms,
    TabularScorer,
    better_calibration,
    logistic_regression,
)
from topline.scoring.training import dump_scorer, load_scorer


@pytest.fixture(scope="module")
def deals() -> tuple[pd.DataFrame, np.ndarray]:
    return synthetic_deals(rows=1500, seed=7)


@pytest.fixture(scope="module")
def scorer(deals: tuple[pd.DataFrame, np.ndarray]) -> TabularScorer:
    frame, won = deals
    return TabularScorer(random_state=0).fit(frame.iloc[:1200], won[:1200])


class TestFrequencyScorer:
    # Five closed deals. Won: web/S, web/L, referral/L. Lost: web/S, cold/S.
    FRAME = pd.DataFrame(
        {
            "source": ["web", "web", "referral", "web", "cold"],
            "size": ["S", "L", "L", "S", "S"],
        }
    )
    WON = np.array([1, 1, 1, 0, 0])

    @pytest.mark.parametrize(
        ("source", "size", "expected"),
        [
            # P(won)=3/5, P(lost)=2/5. source has K=3 values, size K=2; alpha=1.
            # web: P(web|won)=(2+1)/(3+3)=1/2, P(web|lost)=(1+1)/(2+3)=2/5.
            # 3/5·1/2=0.3 against 2/5·2/5=0.16 → 0.3/0.46 = 15/23.
            ("web", None, 15 / 23),
            # L: P(L|won)=(2+1)/(3+2)=3/5, P(L|lost)=(0+1)/(2+2)=1/4.
            # 0.3·3/5=0.18 against 0.16·1/4=0.04 → 0.18/0.22 = 9/11.
            ("web", "L", 9 / 11),
            # A source never seen carries no evidence: 3/5·3/5 against 2/5·1/4 → 18/23.
            ("partner", "L", 18 / 23),
            # Nothing known: the prior.
            (None, None, 3 / 5),
        ],
    )
    def test_probability_matches_the_hand_computed_naive_bayes(
        self, source: str | None, size: str | None, expected: float
    ) -> None:
        scorer = FrequencyScorer(alpha=1.0).fit(self.FRAME, self.WON)
        record = pd.DataFrame({"source": [source], "size": [size]})
        assert scorer.predict_proba(record)[0, 1] == pytest.approx(expected)

    def test_numbers_are_counted_by_quantile_bin(self) -> None:
        frame = pd.DataFrame({"amount": [10, 20, 30, 40, 50, 60]})
        won = np.array([1, 1, 0, 0, 0, 1])
        scorer = FrequencyScorer(n_bins=2).fit(frame, won)
        # One edge at the median, 35. Lower bin: 2 won, 1 lost; upper: 1 won, 2 lost.
        # P(lower|won)=(2+1)/(3+2)=3/5, P(lower|lost)=(1+1)/(3+2)=2/5, even prior → 3/5.
        probability = scorer.predict_proba(pd.DataFrame({"amount": [25, 1_000, None]}))[:, 1]
        assert probability == pytest.approx([0.6, 0.4, 0.5])

    def test_fit_returns_the_scorer_and_predicting_before_fit_raises(self) -> None:
        scorer = FrequencyScorer()
        with pytest.raises(NotFittedError):
            scorer.predict_proba(self.FRAME)
        assert scorer.fit(self.FRAME, self.WON) is scorer
        assert list(scorer.classes_) == [0, 1]

    def test_labels_other_than_zero_and_one_are_accepted(self) -> None:
        labels = np.where(self.WON == 1, "Won", "Loss")
        scorer = FrequencyScorer().fit(self.FRAME, labels)
        # "Won" sorts after "Loss", so it is the positive class, as in scikit-learn.
        assert list(scorer.classes_) == ["Loss", "Won"]
        assert scorer.predict(self.FRAME.iloc[[1]])[0] == "Won"


class TestTabularScorer:
    def test_fit_returns_the_scorer_and_predicting_before_fit_raises(
        self, deals: tuple[pd.DataFrame, np.ndarray]
    ) -> None:
        frame, won = deals
        scorer = TabularScorer(n_estimators=20)
        with pytest.raises(NotFittedError):
            scorer.predict_proba(frame)
        assert scorer.fit(frame, won) is scorer

    def test_hyperparameters_live_in_init_so_clone_works(self) -> None:
        scorer = TabularScorer(learning_rate=0.1, random_state=3)
        copy = clone(scorer)
        assert copy.get_params() == scorer.get_params()
        assert copy.get_params()["learning_rate"] == 0.1

    def test_same_random_state_gives_the_same_probabilities(
        self, deals: tuple[pd.DataFrame, np.ndarray], scorer: TabularScorer
    ) -> None:
        frame, won = deals
        again = TabularScorer(random_state=0).fit(frame.iloc[:1200], won[:1200])
        test = frame.iloc[1200:]
        np.testing.assert_array_equal(again.predict_proba(test), scorer.predict_proba(test))

    def test_probabilities_are_between_zero_and_one_and_rows_sum_to_one(
        self, deals: tuple[pd.DataFrame, np.ndarray], scorer: TabularScorer
    ) -> None:
        frame, _ = deals
        probability = scorer.predict_proba(frame.iloc[1200:])
        assert probability.shape == (300, 2)
        assert np.all((probability >= 0) & (probability <= 1))
        np.testing.assert_allclose(probability.sum(axis=1), 1.0)

    def test_it_finds_the_signal(
        self, deals: tuple[pd.DataFrame, np.ndarray], scorer: TabularScorer
    ) -> None:
        frame, won = deals
        probability = scorer.predict_proba(frame.iloc[1200:])[:, 1]
        # The generating model's own log-odds reach 0.76 on these rows.
        assert roc_auc_score(won[1200:], probability) > 0.7
        importances = dict(zip(scorer.feature_names_in_, scorer.feature_importances_, strict=True))
        assert sum(importances.values()) == pytest.approx(1.0)
        assert importances["region"] > importances["employees"]

    def test_unknown_categories_and_missing_values_do_not_raise(
        self, scorer: TabularScorer
    ) -> None:
        records = pd.DataFrame(
            {
                "region": ["Atlantis", None, "North"],
                "source": ["carrier pigeon", "web", None],
                "amount": [5_000.0, None, 12_000.0],
                "employees": [3, 2, None],
                "unused extra column": [1, 2, 3],
            }
        )
        probability = scorer.predict_proba(records)[:, 1]
        assert np.all(np.isfinite(probability))
        assert np.all((probability >= 0) & (probability <= 1))

    def test_an_unknown_category_is_treated_as_missing(
        self, deals: tuple[pd.DataFrame, np.ndarray]
    ) -> None:
        frame, won = deals
        # Without derived columns the region is only its code, so the two must tie exactly.
        plain = TabularScorer(derived_features=False).fit(frame.iloc[:1200], won[:1200])
        records = pd.DataFrame(
            {
                "region": ["Atlantis", None],
                "source": ["web", "web"],
                "amount": [5_000.0, 5_000.0],
                "employees": [3, 3],
            }
        )
        log_odds = plain.decision_function(records)
        assert log_odds[0] == log_odds[1]

    def test_contributions_plus_the_base_sum_to_the_raw_log_odds(
        self, deals: tuple[pd.DataFrame, np.ndarray], scorer: TabularScorer
    ) -> None:
        frame, _ = deals
        test = frame.iloc[1200:]
        contributions = scorer.contributions(test)
        assert list(contributions.columns) == ["region", "source", "amount", "employees"]
        np.testing.assert_allclose(
            contributions.sum(axis=1).to_numpy() + scorer.base_log_odds_,
            scorer.decision_function(test),
            atol=1e-9,
        )

    def test_probabilities_are_the_calibrated_log_odds(
        self, deals: tuple[pd.DataFrame, np.ndarray], scorer: TabularScorer
    ) -> None:
        frame, _ = deals
        test = frame.iloc[1200:1250]
        np.testing.assert_allclose(
            scorer.predict_proba(test)[:, 1],
            scorer.probability_from_log_odds(scorer.decision_function(test)),
        )

    def test_a_small_calibration_fold_uses_platt_and_a_large_one_the_better_of_two(
        self, deals: tuple[pd.DataFrame, np.ndarray], scorer: TabularScorer
    ) -> None:
        frame, won = deals
        # 1,200 rows hold out 240 for calibration: fewer than the 1,000 isotonic needs.
        assert scorer.calibration_method_ == "sigmoid"
        large = TabularScorer(isotonic_min_rows=200).fit(frame.iloc[:1200], won[:1200])
        assert large.calibration_method_ in ("isotonic", "sigmoid")  # `TestBetterCalibration`
        isotonic = TabularScorer(calibration="isotonic").fit(frame.iloc[:1200], won[:1200])
        assert isotonic.calibration_method_ == "isotonic"
        probability = isotonic.predict_proba(frame.iloc[1200:])[:, 1]
        assert np.all((probability >= 0) & (probability <= 1))


class TestBetterCalibration:
    """The halves of the fold choose isotonic where outcomes follow a shape no sigmoid has, and
    the sigmoid where they follow a sigmoid."""

    def test_a_sigmoid_truth_chooses_the_sigmoid(self) -> None:
        rng = np.random.default_rng(3)
        log_odds = rng.normal(size=4000)
        target = (rng.random(4000) < 1 / (1 + np.exp(-1.5 * log_odds))).astype(int)
        assert better_calibration(log_odds, target) == "sigmoid"

    def test_a_plateau_then_a_jump_chooses_isotonic(self) -> None:
        # Flat at 30 % below 1 and 95 % above: no sigmoid of the score fits both.
        rng = np.random.default_rng(3)
        log_odds = rng.normal(size=4000)
        rate = np.where(log_odds < 1.0, 0.3, 0.95)
        target = (rng.random(4000) < rate).astype(int)
        assert better_calibration(log_odds, target) == "isotonic"

    def test_boosting_stops_early_on_the_held_out_fold(self, scorer: TabularScorer) -> None:
        assert 0 < scorer.n_estimators_ < scorer.n_estimators

    def test_missing_columns_at_predict_are_named(self, scorer: TabularScorer) -> None:
        with pytest.raises(ValueError, match="missing columns: amount"):
            scorer.predict_proba(pd.DataFrame({"region": ["North"], "source": ["web"],
                                               "employees": [1]}))  # fmt: skip

    def test_one_outcome_only_is_refused(self, deals: tuple[pd.DataFrame, np.ndarray]) -> None:
        frame, _ = deals
        with pytest.raises(ValueError, match="exactly two outcomes"):
            TabularScorer().fit(frame, np.ones(len(frame)))


@pytest.fixture(scope="module")
def blended(deals: tuple[pd.DataFrame, np.ndarray]) -> TabularScorer:
    frame, won = deals
    # Few, shallow trees: the generating model is additive, so the regression must share.
    return TabularScorer(linear_blend=True, n_estimators=15, num_leaves=3, learning_rate=0.05).fit(
        frame.iloc[:1200], won[:1200]
    )


class TestLinearBlend:
    def test_the_weight_is_chosen_on_the_held_out_fold_and_leans_on_the_regression(
        self, blended: TabularScorer
    ) -> None:
        assert blended.blend_weight_ in BLEND_WEIGHTS
        assert blended.blend_weight_ < 1.0
        assert isinstance(blended.linear_, LinearTerms)

    def test_without_the_blend_the_trees_stand_alone(self, scorer: TabularScorer) -> None:
        assert scorer.linear_ is None
        assert scorer.blend_weight_ == 1.0

    def test_the_log_odds_are_the_weighted_sum_of_trees_and_regression(
        self, deals: tuple[pd.DataFrame, np.ndarray], blended: TabularScorer
    ) -> None:
        frame, _ = deals
        matrix = blended._matrix(frame.iloc[1200:])
        weight = blended.blend_weight_
        assert blended.linear_ is not None
        np.testing.assert_allclose(
            blended.decision_function(frame.iloc[1200:]),
            weight * blended._tree_log_odds(matrix)
            + (1 - weight) * blended.linear_.log_odds(matrix),
        )

    def test_contributions_plus_the_base_sum_to_the_raw_log_odds(
        self, deals: tuple[pd.DataFrame, np.ndarray], blended: TabularScorer
    ) -> None:
        frame, _ = deals
        test = frame.iloc[1200:]
        contributions = blended.contributions(test)
        np.testing.assert_allclose(
            contributions.sum(axis=1).to_numpy() + blended.base_log_odds_,
            blended.decision_function(test),
            atol=1e-9,
        )

    def test_the_blend_ranks_better_than_its_trees_alone(
        self, deals: tuple[pd.DataFrame, np.ndarray], blended: TabularScorer
    ) -> None:
        frame, won = deals
        trees = TabularScorer(n_estimators=15, num_leaves=3, learning_rate=0.05).fit(
            frame.iloc[:1200], won[:1200]
        )
        test = frame.iloc[1200:]
        assert roc_auc_score(won[1200:], blended.predict_proba(test)[:, 1]) > roc_auc_score(
            won[1200:], trees.predict_proba(test)[:, 1]
        )

    def test_the_same_random_state_gives_the_same_weight_and_probabilities(
        self, deals: tuple[pd.DataFrame, np.ndarray], blended: TabularScorer
    ) -> None:
        frame, won = deals
        again = clone(blended).fit(frame.iloc[:1200], won[:1200])
        assert again.blend_weight_ == blended.blend_weight_
        test = frame.iloc[1200:]
        np.testing.assert_array_equal(again.predict_proba(test), blended.predict_proba(test))

    def test_a_stored_blend_predicts_and_explains_as_the_fitted_one(
        self, deals: tuple[pd.DataFrame, np.ndarray], blended: TabularScorer
    ) -> None:
        frame, _ = deals
        model, state = dump_scorer(blended)
        loaded = load_scorer(model, state)
        records = frame.iloc[1200:].copy()
        records.loc[records.index[:3], "region"] = "Atlantis"
        assert loaded.blend_weight_ == blended.blend_weight_
        np.testing.assert_array_equal(loaded.predict_proba(records), blended.predict_proba(records))
        pd.testing.assert_frame_equal(loaded.contributions(records), blended.contributions(records))

    def test_a_state_stored_before_the_blend_loads_as_trees_alone(
        self, scorer: TabularScorer, deals: tuple[pd.DataFrame, np.ndarray]
    ) -> None:
        frame, _ = deals
        model, state = dump_scorer(scorer)
        older = {
            key: value for key, value in state.items() if key not in ("blend_weight", "linear")
        }
        older["params"] = {k: v for k, v in state["params"].items() if k != "linear_blend"}
        loaded = load_scorer(model, older)
        assert loaded.linear_ is None
        test = frame.iloc[1200:]
        np.testing.assert_array_equal(loaded.predict_proba(test), scorer.predict_proba(test))


class TestLinearTerms:
    # One category column (codes 0, 1; missing) and one number column (with a missing value).
    MATRIX = np.array(
        [[0, 1.0], [0, 2.0], [1, 3.0], [1, np.nan], [np.nan, 5.0], [1, 6.0], [0, 0.5], [1, 4.0]]
    )
    WON = np.array([1, 1, 0, 0, 1, 0, 1, 1])

    def test_terms_are_centred_and_add_up_to_the_regression(self) -> None:
        terms = LinearTerms.fit(self.MATRIX, self.WON, [0], random_state=0)
        each = terms.terms(self.MATRIX)
        np.testing.assert_allclose(each.mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(terms.intercept + each.sum(axis=1), terms.log_odds(self.MATRIX))
        # The same L2 logistic regression on one-hot codes (missing as a third) and the
        # median-imputed, standardised number gives the same log-odds.
        codes = np.nan_to_num(self.MATRIX[:, 0], nan=2).astype(int)
        number = np.where(np.isnan(self.MATRIX[:, 1]), 3.0, self.MATRIX[:, 1])
        design = np.column_stack([np.eye(3)[codes], (number - number.mean()) / number.std()])
        from sklearn.linear_model import LogisticRegression

        reference = LogisticRegression(max_iter=2000).fit(design, self.WON)
        np.testing.assert_allclose(
            terms.log_odds(self.MATRIX), reference.decision_function(design), atol=1e-6
        )

    def test_an_unseen_code_counts_as_missing_and_json_keeps_the_terms(self) -> None:
        terms = LinearTerms.fit(self.MATRIX, self.WON, [0], random_state=0)
        unseen = np.array([[7, 2.0], [np.nan, 2.0]])
        values = terms.log_odds(unseen)
        assert values[0] == values[1]
        again = LinearTerms.from_json(terms.to_json())
        np.testing.assert_array_equal(again.log_odds(self.MATRIX), terms.log_odds(self.MATRIX))


def test_logistic_regression_ignores_unknown_categories_and_imputes_numbers(
    deals: tuple[pd.DataFrame, np.ndarray],
) -> None:
    frame, won = deals
    categorical, numeric = infer_columns(frame)
    model = logistic_regression(categorical, numeric).fit(frame.iloc[:1200], won[:1200])
    records = pd.DataFrame(
        {"region": ["Atlantis"], "source": [None], "amount": [None], "employees": [2]}
    )
    probability = model.predict_proba(records)[:, 1]
    assert 0 < probability[0] < 1
    assert roc_auc_score(won[1200:], model.predict_proba(frame.iloc[1200:])[:, 1]) > 0.7


class TestSampleWeight:
    def test_weights_of_one_change_nothing(self, deals: tuple[pd.DataFrame, np.ndarray]) -> None:
        frame, won = deals
        train, test = frame.iloc[:1200], frame.iloc[1200:]
        plain = TabularScorer(linear_blend=True, n_estimators=40).fit(train, won[:1200])
        ones = TabularScorer(linear_blend=True, n_estimators=40).fit(
            train, won[:1200], sample_weight=np.ones(1200)
        )
        assert ones.blend_weight_ == plain.blend_weight_
        np.testing.assert_allclose(ones.predict_proba(test), plain.predict_proba(test))

    def test_the_predictions_follow_the_weighted_outcome_mix(
        self, deals: tuple[pd.DataFrame, np.ndarray]
    ) -> None:
        # Won rows counted three times: the rows stand for a population where the won share
        # is 3w / (3w + l), and the calibrated probabilities, weighted alike, average to about
        # that; unweighted ones to the rows' own share.
        frame, won = deals
        weight = np.where(won == 1, 3.0, 1.0)
        plain = TabularScorer(linear_blend=True).fit(frame, won)
        weighted = TabularScorer(linear_blend=True).fit(frame, won, sample_weight=weight)
        share = np.average(won, weights=weight)
        assert share - won.mean() > 0.15
        assert abs(plain.predict_proba(frame)[:, 1].mean() - won.mean()) < 0.02
        assert abs(np.average(weighted.predict_proba(frame)[:, 1], weights=weight) - share) < 0.02
        assert (weighted.predict_proba(frame)[:, 1] > plain.predict_proba(frame)[:, 1]).mean() > 0.9
        # The order of the records barely moves: the weights say how common outcomes are.
        assert roc_auc_score(won, weighted.predict_proba(frame)[:, 1]) == pytest.approx(
            roc_auc_score(won, plain.predict_proba(frame)[:, 1]), abs=0.02
        )

    def test_the_linear_part_weighs_rows_as_repeated_ones(self) -> None:
        matrix = TestLinearTerms.MATRIX
        target = TestLinearTerms.WON
        weight = np.arange(len(target)) % 3 + 1
        weighted = LinearTerms.fit(matrix, target, [0], random_state=0, sample_weight=weight)
        from sklearn.linear_model import LogisticRegression

        # The regression of `test_terms_are_centred_and_add_up_to_the_regression`, each row's
        # loss counted `weight` times (the encoding's statistics from the rows as they are).
        codes = np.nan_to_num(matrix[:, 0], nan=2).astype(int)
        number = np.where(np.isnan(matrix[:, 1]), 3.0, matrix[:, 1])
        design = np.column_stack([np.eye(3)[codes], (number - number.mean()) / number.std()])
        repeated = LogisticRegression(max_iter=2000).fit(
            np.repeat(design, weight, axis=0), np.repeat(target, weight)
        )
        np.testing.assert_allclose(
            weighted.log_odds(matrix), repeated.decision_function(design), atol=1e-4
        )

    def test_the_calibration_choice_weighs_its_rows(self) -> None:
        # A plateau then a jump (isotonic's shape) only where the weight is; elsewhere a
        # sigmoid. Unweighted the sigmoid rows win, weighted the plateau rows do.
        rng = np.random.default_rng(3)
        log_odds = rng.normal(size=6000)
        plateau = np.arange(6000) < 1000
        rate = np.where(plateau, np.where(log_odds < 1.0, 0.3, 0.95), 1 / (1 + np.exp(-log_odds)))
        target = (rng.random(6000) < rate).astype(int)
        assert better_calibration(log_odds, target) == "sigmoid"
        weight = np.where(plateau, 50.0, 1.0)
        assert better_calibration(log_odds, target, sample_weight=weight) == "isotonic"

    @pytest.mark.parametrize(
        "weight",
        [np.ones(10), -np.ones(1500), np.zeros(1500), np.full(1500, np.nan)],
        ids=["wrong length", "negative", "zero", "missing"],
    )
    def test_weights_that_are_not_one_positive_number_a_row_are_refused(
        self, deals: tuple[pd.DataFrame, np.ndarray], weight: np.ndarray
    ) -> None:
        frame, won = deals
        with pytest.raises(ValueError, match="sample_weight must be"):
            TabularScorer().fit(frame, won, sample_weight=weight)
