"""Learning deal win probability from the org's own history, and proving how good it is.

The training set is a series of snapshots: every `every_days` days back from the training
moment, the deals open then with their features as of then (`deal_features`), each labelled
won or lost by its outcome as known at the training moment; deals still open are left out.
The last snapshot is `settle_days` before the moment, so its deals had time to close.

Evaluation is out of time and grouped by deal: the latest snapshots (about `TEST_SHARE` of the
rows) are the test part; the training part is the earlier snapshots, without any deal of the
test part and labelled as known at the first test snapshot, so the evaluated model is one that
could have been trained then. Topline's scorer, the logistic regression and the naive Bayes
are measured on the same split; the stored model is then refitted on every labelled snapshot.

Each deal enters a fit once, with one of its snapshots drawn at random (seeded). The scorer
holds out a random fold of its rows to stop boosting and to calibrate; two snapshots of one
deal on both sides of that fold made it boost on (to the cap of trees) and calibrate
overconfidently, which cost more than the extra rows gave. For the same reason the scorer's
derived fields are off: a value's frequency counted the deal's own other snapshots.

Below `MIN_SNAPSHOTS` labelled snapshots or `MIN_PER_OUTCOME` of either outcome (or when the
test part would hold fewer than `MIN_TEST_PER_OUTCOME` of either), no model is trained: the
scores come from historical win rates by stage (and by stage and source where a pair has
`MIN_SOURCE_DEALS` closed deals), Laplace-smoothed, which a person can check by hand. With no
closed deal at all there is no score.

Fitted scorers are kept as JSON (`dump_scorer`, `load_scorer`): LightGBM's own model text, the
calibrator's numbers and the encoding's vocabularies, never a pickle.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from topline.analytics.history import state_as_of
from topline.clock import ensure_utc
from topline.crm.enums import StageType
from topline.crm.models import Deal, DealHistory, Lead, Stage
from topline.scoring.encoding import TabularEncoding
from topline.scoring.errors import InvalidDataset
from topline.scoring.estimators import (
    FrequencyScorer,
    LinearTerms,
    TabularScorer,
    logistic_regression,
)
from topline.scoring.evaluation import (
    TOP_IMPORTANCES,
    CalibrationBin,
    Evaluation,
    MethodScores,
    calibration_table,
    score_method,
)
from topline.scoring.features import CATEGORICAL, FEATURES, NUMERIC, deal_features, deal_outcomes
from topline.scoring.lead_features import HORIZON_DAYS, lead_features, lead_outcomes

SNAPSHOT_EVERY_DAYS = 30
SETTLE_DAYS = 30
TEST_SHARE = 0.2
MIN_SNAPSHOTS = 200
MIN_PER_OUTCOME = 30
MIN_TEST_PER_OUTCOME = 10
MIN_SOURCE_DEALS = 20
STATE_FORMAT = 1

LIGHTGBM = "lightgbm"
HISTORICAL_RATES = "historical_rates"


@dataclass
class Snapshots:
    """Labelled snapshots: for deals, `deal_features` columns plus `snapshot_at`, `won` (0/1)
    and `closed_at`, one row per deal and snapshot, oldest snapshot first.

    Other records (leads) name their identifier column `key`, their 0/1 outcome `label` and
    the moment that outcome became known `known_at`.
    """

    frame: pd.DataFrame
    moments: list[datetime]
    unlabelled: int
    key: str = "deal_id"
    label: str = "won"
    known_at: str = "closed_at"

    @property
    def outcomes(self) -> np.ndarray:
        """The outcome (1 won or converted, 0 not), one per row."""
        outcomes: np.ndarray = self.frame[self.label].to_numpy(dtype=np.int8)
        return outcomes

    @property
    def noun(self) -> str:
        """What a row is a snapshot of: "deal", "lead"."""
        return self.key.removesuffix("_id")


def snapshot_moments(
    session: Session,
    as_of: datetime,
    *,
    every_days: int = SNAPSHOT_EVERY_DAYS,
    settle_days: int = SETTLE_DAYS,
) -> list[datetime]:
    """Moments `settle_days`, then every `every_days` more, before `as_of`, back to the first
    recorded deal; oldest first."""
    as_of = ensure_utc(as_of)
    history = DealHistory.__table__
    first = session.scalar(select(func.min(history.c.valid_from)))
    return moments_back(first, as_of, every_days=every_days, settle_days=settle_days)


def moments_back(
    first: datetime | None, as_of: datetime, *, every_days: int, settle_days: int
) -> list[datetime]:
    """Moments `settle_days`, then every `every_days` more, before `as_of`, back to `first`
    (the first record); oldest first."""
    if first is None:
        return []
    first = ensure_utc(first)
    moments: list[datetime] = []
    moment = as_of - timedelta(days=settle_days)
    while moment > first:
        moments.append(moment)
        moment -= timedelta(days=every_days)
    return moments[::-1]


def deal_snapshots(
    session: Session,
    as_of: datetime,
    *,
    every_days: int = SNAPSHOT_EVERY_DAYS,
    settle_days: int = SETTLE_DAYS,
) -> Snapshots:
    """The deals open at each snapshot moment with their features then and their outcome as
    known at `as_of`."""
    as_of = ensure_utc(as_of)
    moments = snapshot_moments(session, as_of, every_days=every_days, settle_days=settle_days)

    def labelled_at(moment: datetime) -> tuple[int, pd.DataFrame]:
        features = deal_features(session, moment)
        outcomes = deal_outcomes(session, moment, as_of)
        return len(features), features.merge(outcomes, on="deal_id", how="inner")

    def empty() -> pd.DataFrame:
        frame = deal_features(session, as_of).iloc[:0]
        frame["won"] = pd.Series(dtype=np.int8)
        frame["closed_at"] = pd.Series(dtype="datetime64[ns, UTC]")
        return frame

    frame, unlabelled = _stacked(moments, labelled_at, empty)
    return Snapshots(frame, moments, unlabelled)


def _stacked(
    moments: list[datetime],
    labelled_at: Callable[[datetime], tuple[int, pd.DataFrame]],
    empty: Callable[[], pd.DataFrame],
) -> tuple[pd.DataFrame, int]:
    """Every moment's labelled records in one frame, `snapshot_at` after the id column, and
    how many open records had no outcome yet. `labelled_at` gives a moment's count of open
    records and the labelled ones; `empty` the frame's columns when there is no moment."""
    parts: list[pd.DataFrame] = []
    unlabelled = 0
    for moment in moments:
        total, labelled = labelled_at(moment)
        unlabelled += total - len(labelled)
        labelled.insert(1, "snapshot_at", pd.Timestamp(moment))
        parts.append(labelled)
    if parts:
        return pd.concat(parts, ignore_index=True), unlabelled
    frame = empty()
    frame.insert(1, "snapshot_at", pd.Series(dtype="datetime64[ns, UTC]"))
    return frame, 0


def lead_snapshots(
    session: Session,
    as_of: datetime,
    *,
    target: str = "converted",
    horizon_days: int = HORIZON_DAYS,
    every_days: int = SNAPSHOT_EVERY_DAYS,
) -> Snapshots:
    """The leads open at each snapshot moment with their features then and their `target`
    outcome ("converted" or "won", as `lead_outcomes`) as known at `as_of`.

    The last snapshot is `horizon_days` before `as_of`, so every lead's horizon is over.
    """
    as_of = ensure_utc(as_of)
    first = session.scalar(select(func.min(Lead.created_at)))
    moments = moments_back(first, as_of, every_days=every_days, settle_days=horizon_days)
    known_at = f"{target}_known_at"

    def labelled_at(moment: datetime) -> tuple[int, pd.DataFrame]:
        features = lead_features(session, moment)
        outcomes = lead_outcomes(session, moment, as_of, horizon_days=horizon_days)
        outcomes = outcomes.loc[outcomes[target].notna(), ["lead_id", target, known_at]]
        return len(features), features.merge(outcomes, on="lead_id", how="inner")

    def empty() -> pd.DataFrame:
        frame = lead_features(session, as_of).iloc[:0]
        frame[target] = pd.Series(dtype=np.float64)
        frame[known_at] = pd.Series(dtype="datetime64[ns, UTC]")
        return frame

    frame, unlabelled = _stacked(moments, labelled_at, empty)
    frame[target] = frame[target].astype(np.int8)
    return Snapshots(frame, moments, unlabelled, key="lead_id", label=target, known_at=known_at)


def snapshot_rates(snapshots: Snapshots) -> HistoricalRates:
    """Historical rates from labelled snapshots with `stage` and `source` columns: of the
    snapshots at a stage (and from a source), the share with the positive outcome.

    Raises `InvalidDataset` when no snapshot has a known outcome.
    """
    frame = snapshots.frame
    if frame.empty:
        raise InvalidDataset(
            f"no {snapshots.noun} has a known outcome yet: there is no history to score from"
        )
    label = frame[snapshots.label].astype(np.int64)
    positives = int(label.sum())
    stages: dict[str, tuple[int, int]] = {}
    pairs: dict[str, dict[str, tuple[int, int]]] = {}
    counts = label.groupby([frame["stage"], frame["source"]], dropna=False).agg(["sum", "count"])
    for (stage, source), (positive, total) in counts.iterrows():
        if not isinstance(stage, str):
            continue
        won, closed = stages.get(stage, (0, 0))
        stages[stage] = (won + int(positive), closed + int(total))
        if isinstance(source, str):
            pairs.setdefault(stage, {})[source] = (int(positive), int(total))
    return HistoricalRates(overall=(positives, len(frame)), stages=stages, stage_sources=pairs)


@dataclass(frozen=True)
class Split:
    """Row positions of an out-of-time, deal-grouped split and the moment it falls at, with
    the weight of each training row (`open_moments`)."""

    train: np.ndarray
    test: np.ndarray
    cutoff: datetime
    train_weight: np.ndarray


def out_of_time_split(
    snapshots: Snapshots, *, test_share: float = TEST_SHARE, random_state: int = 0
) -> Split | None:
    """The latest snapshots holding about `test_share` of the rows are tested on; the earlier
    ones, without the tested deals and labelled as known at the first tested snapshot, are
    trained on, one row per deal weighted by the number of its training snapshots
    (`open_moments`). None when there are fewer than two snapshots with rows."""
    frame = snapshots.frame
    key = snapshots.key
    sizes = frame.groupby("snapshot_at").size().sort_index(ascending=False)
    if len(sizes) < 2:
        return None
    wanted = test_share * len(frame)
    taken = 0
    cutoff = sizes.index[0]
    for moment, size in sizes.iloc[:-1].items():
        cutoff = moment
        taken += size
        if taken >= wanted:
            break
    in_test = (frame["snapshot_at"] >= cutoff).to_numpy()
    tested = frame.loc[in_test, key].unique()
    train = (
        ~in_test
        & ~frame[key].isin(tested).to_numpy()
        & (frame[snapshots.known_at] <= cutoff).to_numpy()
    )
    candidates = np.flatnonzero(train)
    rows = one_per_deal(frame, candidates, random_state=random_state, key=key)
    weight = open_moments(frame, candidates, rows, key=key)
    return Split(rows, np.flatnonzero(in_test), cutoff.to_pydatetime(), weight)


def shortage(
    outcomes: np.ndarray,
    split: Split | None,
    *,
    noun: str = "deal",
    outcome_names: tuple[str, str] = ("won", "lost"),
) -> str | None:
    """Why the history is too thin to train and test a model on, or None when it is enough.

    `noun` names the records ("deal", "lead"), `outcome_names` the positive and negative
    outcomes in the message."""
    rows = len(outcomes)
    won = int(outcomes.sum())
    fewest = min(won, rows - won)
    if rows < MIN_SNAPSHOTS:
        return f"only {rows} labelled {noun} snapshots; at least {MIN_SNAPSHOTS} are needed"
    if fewest < MIN_PER_OUTCOME:
        which = outcome_names[0] if won < rows - won else outcome_names[1]
        return f"only {fewest} {which} {noun} snapshots; at least {MIN_PER_OUTCOME} are needed"
    if split is None:
        return "the history covers a single snapshot; two are needed to test out of time"
    for part, rows_of in (("test", split.test), ("training", split.train)):
        part_won = int(outcomes[rows_of].sum())
        part_fewest = min(part_won, len(rows_of) - part_won)
        if part_fewest < MIN_TEST_PER_OUTCOME:
            return (
                f"the {part} part would hold only {part_fewest} {noun}s of one outcome; "
                f"at least {MIN_TEST_PER_OUTCOME} are needed"
            )
    return None


@dataclass
class HistoricalRates:
    """Win probability from closed deals' history: of the deals that were in a stage and have
    closed, the share won; by stage and source where that pair has enough closed deals.

    Pure and transparent. Counts are (won, closed) per key; each rate is Laplace-smoothed,
    (won + 1) / (closed + 2). A stage nobody closed from falls back to the overall rate.
    """

    overall: tuple[int, int]
    stages: dict[str, tuple[int, int]] = field(default_factory=dict)
    stage_sources: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    min_source_deals: int = MIN_SOURCE_DEALS

    @staticmethod
    def rate(counts: tuple[int, int]) -> float:
        """Laplace-smoothed share won."""
        won, closed = counts
        return (won + 1) / (closed + 2)

    def explain(self, stage: object, source: object) -> tuple[float, list[tuple[str, float]]]:
        """The probability for a deal in `stage` from `source`, and the factors behind it: the
        stage's rate against the overall rate, the source's against the stage's (in points)."""
        base = self.rate(self.overall)
        stage_counts = self.stages.get(str(stage)) if isinstance(stage, str) else None
        if stage_counts is None:
            return base, []
        probability = self.rate(stage_counts)
        factors = [("stage", 100.0 * (probability - base))]
        if isinstance(source, str):
            pair = self.stage_sources.get(str(stage), {}).get(source)
            if pair is not None and pair[1] >= self.min_source_deals:
                sourced = self.rate(pair)
                factors.append(("source", 100.0 * (sourced - probability)))
                probability = sourced
        return probability, factors

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """[P(lost), P(won)] per row of a frame with `stage` and `source` columns."""
        keys = X[["stage", "source"]].astype(object).where(X[["stage", "source"]].notna(), None)
        cache: dict[tuple[object, object], float] = {}
        won = np.empty(len(X))
        for position, (stage, source) in enumerate(keys.itertuples(index=False, name=None)):
            if (stage, source) not in cache:
                cache[(stage, source)] = self.explain(stage, source)[0]
            won[position] = cache[(stage, source)]
        return np.column_stack([1.0 - won, won])

    def to_json(self) -> dict[str, Any]:
        """The counts as JSON."""
        return {
            "overall": list(self.overall),
            "stages": {stage: list(counts) for stage, counts in self.stages.items()},
            "stage_sources": {
                stage: {source: list(counts) for source, counts in sources.items()}
                for stage, sources in self.stage_sources.items()
            },
            "min_source_deals": self.min_source_deals,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HistoricalRates:
        """The rates `to_json` wrote."""
        return cls(
            overall=_pair(data["overall"]),
            stages={stage: _pair(counts) for stage, counts in data["stages"].items()},
            stage_sources={
                stage: {source: _pair(counts) for source, counts in sources.items()}
                for stage, sources in data["stage_sources"].items()
            },
            min_source_deals=int(data["min_source_deals"]),
        )


def _pair(values: Sequence[Any]) -> tuple[int, int]:
    return int(values[0]), int(values[1])


def historical_rates(session: Session, as_of: datetime) -> HistoricalRates:
    """Counts of the deals closed at `as_of` by the open stages they were in (and their
    source). Raises `InvalidDataset` when no deal has closed: there is nothing to learn from."""
    as_of = ensure_utc(as_of)
    history = DealHistory.__table__
    final = state_as_of(as_of, history.c.stage_type != StageType.OPEN)
    passed = (
        select(
            history.c.deal_id,
            Stage.name.label("stage"),
            Deal.source,
            case((final.c.stage_type == StageType.WON, 1), else_=0).label("won"),
        )
        .distinct()
        .join(final, final.c.deal_id == history.c.deal_id)
        .join(Stage, Stage.id == history.c.stage_id)
        .join(Deal, Deal.id == history.c.deal_id)
        .where(history.c.valid_from <= as_of, history.c.stage_type == StageType.OPEN)
        .subquery("passed")
    )
    counts = session.execute(
        select(passed.c.stage, passed.c.source, func.sum(passed.c.won), func.count()).group_by(
            passed.c.stage, passed.c.source
        )
    ).all()
    overall = session.execute(
        select(func.sum(case((final.c.stage_type == StageType.WON, 1), else_=0)), func.count())
    ).one()
    closed = int(overall[1] or 0)
    if closed == 0:
        raise InvalidDataset("no deal has closed yet: there is no history to score deals from")
    stages: dict[str, list[int]] = {}
    pairs: dict[str, dict[str, tuple[int, int]]] = {}
    for stage, source, won, total in counts:
        tally = stages.setdefault(stage, [0, 0])
        tally[0] += int(won)
        tally[1] += int(total)
        if source is not None:
            pairs.setdefault(stage, {})[source] = (int(won), int(total))
    return HistoricalRates(
        overall=(int(overall[0] or 0), closed),
        stages={stage: (won, total) for stage, (won, total) in stages.items()},
        stage_sources=pairs,
    )


@dataclass
class DealEvaluation:
    """How the deal scorer did out of time on the org's history, or why it was not trained."""

    as_of: datetime
    moments: list[datetime]
    snapshots: int
    unlabelled: int
    evaluation: Evaluation | None
    shortage: str | None
    cutoff: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """`Evaluation.to_json` (auc, pr_auc, brier, n_train, n_test first) plus the window."""
        window = {
            "as_of": self.as_of.isoformat(),
            "window_start": self.moments[0].isoformat() if self.moments else None,
            "window_end": self.moments[-1].isoformat() if self.moments else None,
            "test_from": self.cutoff.isoformat() if self.cutoff else None,
            "snapshots": self.snapshots,
            "snapshot_moments": len(self.moments),
        }
        if self.evaluation is None:
            return {"method": HISTORICAL_RATES, "message": self.shortage, **window}
        return {**self.evaluation.to_json(), "method": LIGHTGBM, **window}


def new_scorer(rows: int, random_state: int = 0) -> TabularScorer:
    """Topline's scorer as the deal model uses it: one thread, no derived fields, small trees
    whose leaves hold at least a fifteenth of the rows (20 to 200), learning rate 0.1, blended
    with a logistic regression over the same fields (weights chosen on the held-out fold).

    Deal outcomes are close to additive in these fields. Measured on the demo orgs: the
    default bigger trees overfitted the small org (ROC AUC 0.817 against 0.833) and gained
    nothing on the medium one (0.859 either way); a learning rate of 0.1 instead of 0.05 gave
    the same accuracy with half the trees, so scoring 100k deals takes half the time. On the
    medium org's out-of-time test the blend (trees weighted 0.8) lifted ROC AUC from 0.859 to
    0.861 and cut the Brier score from 0.153 to 0.152: out of time the deals are older and
    busier than in training, and the regression's straight lines extrapolate where trees stay
    flat.
    """
    leaf = min(200, max(20, rows // 15))
    return TabularScorer(
        derived_features=False,
        num_leaves=7,
        min_child_samples=leaf,
        learning_rate=0.1,
        linear_blend=True,
        random_state=random_state,
        n_jobs=1,
    )


def one_per_deal(
    frame: pd.DataFrame, rows: np.ndarray, *, random_state: int = 0, key: str = "deal_id"
) -> np.ndarray:
    """Of the row positions `rows`, one per deal (or other record named by `key`) drawn at
    random (seeded), in order."""
    draw = np.random.default_rng(random_state).random(len(rows))
    chosen = (
        pd.DataFrame({"row": rows, "record": frame[key].to_numpy()[rows], "draw": draw})
        .sort_values(["draw", "row"])
        .drop_duplicates("record")
    )
    return np.sort(chosen["row"].to_numpy())


def open_moments(
    frame: pd.DataFrame, rows: np.ndarray, chosen: np.ndarray, *, key: str = "deal_id"
) -> np.ndarray:
    """For each row position in `chosen`, how many of the rows `rows` are of its record: the
    number of snapshot moments the deal (or lead) was open at.

    The scorer sees one snapshot per deal but scores the deals open at a moment, among which a
    deal open for six months is six times as likely as one open for one. Weighing each row by
    its moments makes the rows stand for that population. Measured on the medium demo org's
    out-of-time test (`benchmarks/scoring.py`): unweighted, the deals' rows are 37 % won and
    the test's 42 %, and the scorer predicted 37.8 % on average (Brier 0.1509); weighted,
    the rows stand for 42 % won and the scorer predicts 41.2 % (Brier 0.1485, ROC AUC 0.8618
    against 0.8621, PR AUC 0.8298 against 0.8295). The leads gained too (Brier 0.0928 to 0.0920,
    ROC AUC 0.8708 to 0.8715).
    """
    records = pd.Series(frame[key].to_numpy()[rows])
    counts = records.value_counts()
    weight: np.ndarray = counts.reindex(frame[key].to_numpy()[chosen]).to_numpy(dtype=np.float64)
    return weight


def evaluate_deal_scorer(
    session: Session,
    as_of: datetime,
    *,
    snapshots: Snapshots | None = None,
    baselines: bool = True,
    random_state: int = 0,
) -> DealEvaluation:
    """Train on the older snapshots and measure on the latest, as the module says."""
    as_of = ensure_utc(as_of)
    snapshots = snapshots if snapshots is not None else deal_snapshots(session, as_of)
    return evaluate_snapshots(
        snapshots,
        as_of,
        categorical=CATEGORICAL,
        numeric=NUMERIC,
        baselines=baselines,
        random_state=random_state,
    )


def evaluate_snapshots(
    snapshots: Snapshots,
    as_of: datetime,
    *,
    categorical: list[str],
    numeric: list[str],
    baselines: bool = True,
    outcome_names: tuple[str, str] = ("won", "lost"),
    random_state: int = 0,
) -> DealEvaluation:
    """`evaluate_deal_scorer` for any labelled snapshots learned from `categorical` and
    `numeric` columns (deals or leads)."""
    y = snapshots.outcomes
    split = out_of_time_split(snapshots, random_state=random_state)
    reason = shortage(y, split, noun=snapshots.noun, outcome_names=outcome_names)
    report = DealEvaluation(
        as_of, snapshots.moments, len(y), snapshots.unlabelled, None, reason, None
    )
    if reason is not None or split is None:
        return report
    X = snapshots.frame[[*categorical, *numeric]]
    train = split.train
    scorer = new_scorer(len(train), random_state)
    scores, probability = score_method(
        scorer, X, y, train, split.test, sample_weight=split.train_weight
    )
    measured: dict[str, MethodScores] = {}
    if baselines:
        measured["logistic_regression"], _ = score_method(
            logistic_regression(categorical, numeric, random_state=random_state),
            X,
            y,
            train,
            split.test,
        )
        measured["naive_bayes"], _ = score_method(FrequencyScorer(), X, y, train, split.test)
    report.cutoff = split.cutoff
    report.evaluation = Evaluation(
        auc=scores.auc,
        pr_auc=scores.pr_auc,
        brier=scores.brier,
        n_train=len(train),
        n_test=len(split.test),
        positive_rate=float(y.mean()),
        calibration_method=scorer.calibration_method_,
        calibration=calibration_table(y[split.test], probability),
        importances=importances(scorer),
        baselines=measured,
        categorical=list(categorical),
        numeric=list(numeric),
        rows_without_outcome=snapshots.unlabelled,
        seconds={"fit": scores.fit_seconds, "predict": scores.predict_seconds},
    )
    return report


def importances(scorer: TabularScorer, top: int = TOP_IMPORTANCES) -> list[tuple[str, float]]:
    """The fields with the largest share of the scorer's split gain, largest first."""
    pairs = zip(
        scorer.feature_names_in_.tolist(), scorer.feature_importances_.tolist(), strict=True
    )
    ranked = sorted(pairs, key=lambda pair: -pair[1])
    return [(str(name), float(share)) for name, share in ranked[:top]]


def fit_deal_scorer(snapshots: Snapshots, *, random_state: int = 0) -> TabularScorer:
    """Topline's scorer fitted on the labelled snapshots, one per deal."""
    return fit_scorer(snapshots, FEATURES, random_state=random_state)


def fit_scorer(
    snapshots: Snapshots, features: list[str], *, random_state: int = 0
) -> TabularScorer:
    """Topline's scorer fitted on the `features` of labelled snapshots, one per record weighted
    by its number of snapshots (`open_moments`)."""
    frame = snapshots.frame
    every = np.arange(len(frame))
    rows = one_per_deal(frame, every, random_state=random_state, key=snapshots.key)
    scorer = new_scorer(len(rows), random_state)
    return scorer.fit(
        frame.iloc[rows][features],
        snapshots.outcomes[rows],
        sample_weight=open_moments(frame, every, rows, key=snapshots.key),
    )


def calibration_json(table: list[CalibrationBin]) -> list[dict[str, Any]]:
    """A calibration table as JSON rows."""
    return [vars(row) for row in table]


def dump_scorer(scorer: TabularScorer) -> tuple[str, dict[str, Any]]:
    """A fitted scorer as LightGBM's model text and a JSON document of everything else."""
    encoding: TabularEncoding = scorer.encoding_
    calibrator = scorer.calibrator_
    if isinstance(calibrator, IsotonicRegression):
        calibration: dict[str, Any] = {
            "method": "isotonic",
            "x": calibrator.X_thresholds_.tolist(),
            "y": calibrator.y_thresholds_.tolist(),
        }
    else:
        calibration = {
            "method": "sigmoid",
            "coef": float(calibrator.coef_[0, 0]),
            "intercept": float(calibrator.intercept_[0]),
        }
    state = {
        "format": STATE_FORMAT,
        "params": scorer.get_params(),
        "classes": scorer.classes_.tolist(),
        "n_estimators": int(scorer.n_estimators_),
        "importances": scorer.feature_importances_.tolist(),
        "base_log_odds": scorer.base_log_odds_,
        "blend_weight": scorer.blend_weight_,
        "linear": scorer.linear_.to_json() if scorer.linear_ is not None else None,
        "calibration": calibration,
        "encoding": {
            "derived": encoding.derived,
            "columns": encoding.columns,
            "categorical": encoding.categorical,
            "vocabularies": encoding.vocabularies,
            "frequencies": {
                name: {
                    "values": [_json_value(value) for value in counts.index],
                    "counts": [int(count) for count in counts.to_numpy()],
                    "numeric": name not in encoding.vocabularies,
                }
                for name, counts in encoding.frequencies.items()
            },
            "rounded": encoding.rounded,
            "n_rows": encoding.n_rows,
            "feature_names": encoding.feature_names,
            "sources": encoding.sources,
        },
    }
    model = scorer.booster_.model_to_string(num_iteration=scorer.n_estimators_)
    return model, state


def load_scorer(model: str, state: dict[str, Any]) -> TabularScorer:
    """The scorer `dump_scorer` wrote, predicting exactly as it did."""
    if state.get("format") != STATE_FORMAT:
        raise ValueError(f"unknown scorer state format {state.get('format')!r}")
    scorer = TabularScorer(**state["params"])
    stored = state["encoding"]
    encoding = TabularEncoding(derived=stored["derived"])
    encoding.columns = list(stored["columns"])
    encoding.categorical = list(stored["categorical"])
    encoding.vocabularies = {name: list(words) for name, words in stored["vocabularies"].items()}
    encoding.frequencies = {name: _counts(entry) for name, entry in stored["frequencies"].items()}
    encoding.rounded = list(stored["rounded"])
    encoding.n_rows = int(stored["n_rows"])
    encoding.feature_names = list(stored["feature_names"])
    encoding.sources = [int(source) for source in stored["sources"]]
    scorer.encoding_ = encoding
    scorer.classes_ = np.asarray(state["classes"])
    scorer.feature_names_in_ = np.asarray(encoding.columns, dtype=object)
    scorer.n_features_in_ = len(encoding.columns)
    scorer.booster_ = lgb.Booster(model_str=model)
    scorer.n_estimators_ = int(state["n_estimators"])
    scorer.feature_importances_ = np.asarray(state["importances"], dtype=np.float64)
    scorer.base_log_odds_ = float(state["base_log_odds"])
    # States stored before the linear blend have neither key: the trees alone.
    scorer.blend_weight_ = float(state.get("blend_weight", 1.0))
    linear = state.get("linear")
    scorer.linear_ = LinearTerms.from_json(linear) if linear is not None else None
    calibration = state["calibration"]
    scorer.calibration_method_ = calibration["method"]
    if calibration["method"] == "isotonic":
        # Refitting on its own thresholds gives back the same step function.
        scorer.calibrator_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
            np.asarray(calibration["x"], dtype=np.float64),
            np.asarray(calibration["y"], dtype=np.float64),
        )
    else:
        sigmoid = LogisticRegression(C=1e4)
        sigmoid.classes_ = np.array([0, 1])
        sigmoid.coef_ = np.array([[calibration["coef"]]])
        sigmoid.intercept_ = np.array([calibration["intercept"]])
        sigmoid.n_features_in_ = 1
        scorer.calibrator_ = sigmoid
    return scorer


def state_digest(model: str | None, state: dict[str, Any]) -> str:
    """SHA-256 of a stored model (its text and its state), checked again when it is loaded."""
    digest = hashlib.sha256()
    digest.update((model or "").encode())
    digest.update(json.dumps(state, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


def _json_value(value: object) -> object:
    if isinstance(value, float | np.floating):
        return None if math.isnan(float(value)) else float(value)
    if value is None or value is pd.NA:
        return None
    return str(value)


def _counts(entry: dict[str, Any]) -> pd.Series:
    values = entry["values"]
    if entry["numeric"]:
        index = pd.Index(
            np.array([np.nan if value is None else value for value in values], dtype=np.float64)
        )
    else:
        index = pd.Index([np.nan if value is None else value for value in values], dtype=object)
    return pd.Series(np.asarray(entry["counts"], dtype=np.int64), index=index)
