"""How good the scores are: ROC AUC, PR AUC, Brier score and a calibration table, on one
fixed held-out split, for Topline's data or anyone's CSV.

Pure: files and frames in, numbers out. `evaluate_csv` is what `topline score evaluate` runs,
so anyone can check the scorer on their own closed deals before trusting it with theirs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import train_test_split

from topline.importers.sources import SAMPLE_BYTES, SourceError, detect_encoding, sniff_delimiter
from topline.scoring.encoding import as_text, infer_columns
from topline.scoring.errors import InvalidDataset
from topline.scoring.estimators import FrequencyScorer, TabularScorer, logistic_regression

# Below these, a fifth held out for testing has a handful of each outcome and every metric is
# noise; the scorer also holds out part of its training rows for calibration.
MIN_ROWS = 50
MIN_PER_OUTCOME = 10
TOP_IMPORTANCES = 10


class Classifier(Protocol):
    """Anything with scikit-learn's `fit` and `predict_proba` (the scorers, a Pipeline)."""

    def fit(self, X: pd.DataFrame, y: Any) -> Any: ...

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...


def stratified_split(
    y: Any, *, test_size: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of one fixed training/test split keeping the outcome mix in both parts.

    The same outcomes and seed give the same split everywhere (CLI, benchmark, tests), so
    numbers measured on it can be compared.
    """
    outcomes = np.asarray(y)
    train, test = train_test_split(
        np.arange(outcomes.shape[0]), test_size=test_size, stratify=outcomes, random_state=seed
    )
    return np.sort(train), np.sort(test)


def roc_auc(y: Any, probability: Any) -> float:
    """Chance that a random won record scores above a random lost one (0.5 = guessing)."""
    return float(roc_auc_score(y, probability))


def pr_auc(y: Any, probability: Any) -> float:
    """Average precision: how well the top of the ranking is made of wins (base = win rate)."""
    return float(average_precision_score(y, probability))


def brier(y: Any, probability: Any) -> float:
    """Mean squared gap between the probability and the outcome (lower is better)."""
    return float(brier_score_loss(y, probability))


@dataclass(frozen=True)
class CalibrationBin:
    """Records whose probability fell in [lower, upper): how many, what they were told, what
    happened. A calibrated scorer has `mean_predicted` close to `observed_rate` in every bin."""

    lower: float
    upper: float
    count: int
    mean_predicted: float | None
    observed_rate: float | None


def calibration_table(y: Any, probability: Any, *, bins: int = 10) -> list[CalibrationBin]:
    """Equal-width probability bins (the last one includes 1.0); empty bins are kept."""
    outcomes = np.asarray(y, dtype=np.float64)
    predicted = np.asarray(probability, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    positions = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, bins - 1)
    table = []
    for position in range(bins):
        inside = positions == position
        count = int(inside.sum())
        table.append(
            CalibrationBin(
                lower=round(float(edges[position]), 10),
                upper=round(float(edges[position + 1]), 10),
                count=count,
                mean_predicted=float(predicted[inside].mean()) if count else None,
                observed_rate=float(outcomes[inside].mean()) if count else None,
            )
        )
    return table


@dataclass(frozen=True)
class MethodScores:
    """One method's scores on the test rows, and how long it took."""

    auc: float
    pr_auc: float
    brier: float
    fit_seconds: float
    predict_seconds: float


def score_method(
    model: Classifier,
    X: pd.DataFrame,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
) -> tuple[MethodScores, np.ndarray]:
    """Fit on the training rows (weighted by `sample_weight`, one per training row, when
    given), score the test rows; also returns the test probabilities."""
    started = time.perf_counter()
    if sample_weight is None:
        model.fit(X.iloc[train], y[train])
    else:
        # Topline's scorers take `sample_weight` as scikit-learn's estimators do.
        fit = cast(Callable[..., Any], model.fit)
        fit(X.iloc[train], y[train], sample_weight=sample_weight)
    fitted = time.perf_counter()
    probability = np.asarray(model.predict_proba(X.iloc[test]))[:, 1]
    done = time.perf_counter()
    scores = MethodScores(
        auc=roc_auc(y[test], probability),
        pr_auc=pr_auc(y[test], probability),
        brier=brier(y[test], probability),
        fit_seconds=fitted - started,
        predict_seconds=done - fitted,
    )
    return scores, probability


@dataclass(frozen=True)
class Evaluation:
    """Topline's scorer trained on 80 % of a data set and measured on the other 20 %."""

    auc: float
    pr_auc: float
    brier: float
    n_train: int
    n_test: int
    positive_rate: float
    calibration_method: str
    calibration: list[CalibrationBin]
    importances: list[tuple[str, float]]
    baselines: dict[str, MethodScores]
    categorical: list[str]
    numeric: list[str]
    duplicates_dropped: int = 0
    rows_without_outcome: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON: `auc`, `pr_auc`, `brier`, `n_train`, `n_test` first."""
        return {
            "auc": self.auc,
            "pr_auc": self.pr_auc,
            "brier": self.brier,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "positive_rate": self.positive_rate,
            "calibration_method": self.calibration_method,
            "baselines": {
                name: {"auc": scores.auc, "pr_auc": scores.pr_auc, "brier": scores.brier}
                for name, scores in self.baselines.items()
            },
            "calibration": [vars(row) for row in self.calibration],
            "importances": [{"feature": name, "share": share} for name, share in self.importances],
            "columns": {"categorical": self.categorical, "numeric": self.numeric},
            "duplicates_dropped": self.duplicates_dropped,
            "rows_without_outcome": self.rows_without_outcome,
            "seconds": self.seconds,
        }


def read_csv(path: Path | str) -> pd.DataFrame:
    """A CSV file as a frame, read the way imports read it (text encoding and delimiter
    sniffed), with surrounding spaces taken off the column names."""
    path = Path(path)
    if not path.exists():
        raise InvalidDataset(f"no file at {path}")
    if not path.is_file():
        raise InvalidDataset(f"{path} is not a file")
    with path.open("rb") as raw:
        sample = raw.read(SAMPLE_BYTES)
    if not sample.strip():
        raise InvalidDataset(f"{path.name} is empty")
    try:
        encoding = detect_encoding(sample, path.name)
    except SourceError as exc:
        raise InvalidDataset(exc.message) from exc
    delimiter = sniff_delimiter(sample.decode(encoding, errors="ignore"))
    try:
        frame = pd.read_csv(path, encoding=encoding, sep=delimiter, low_memory=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidDataset(f"{path.name} is not a readable CSV file: {first}") from exc
    frame.columns = [str(name).strip() for name in frame.columns]
    if frame.shape[1] < 2:
        raise InvalidDataset(
            f"{path.name} has a single column; is it a CSV file? Scoring needs the outcome "
            "column and at least one other"
        )
    return frame


def _columns_hint(frame: pd.DataFrame) -> str:
    names = list(frame.columns)
    shown = ", ".join(repr(name) for name in names[:20])
    return shown + (f" and {len(names) - 20} more" if len(names) > 20 else "")


def outcomes(column: pd.Series, positive: str) -> pd.Series:
    """True where the outcome is `positive`, False where it is another value, NA where empty.

    Values compare as stripped text; in a numeric column `1` also matches `1.0`.
    """
    wanted = positive.strip()
    text = as_text(column)
    result = text == wanted
    numeric = pd.api.types.is_numeric_dtype(column.dtype)
    if numeric and not pd.api.types.is_bool_dtype(column.dtype):
        with suppress(ValueError):
            result = pd.Series(np.asarray(column, dtype=np.float64) == float(wanted), column.index)
    return result.astype(object).where(text.notna(), pd.NA)


def evaluate_csv(
    path: Path | str,
    target: str,
    positive: str,
    drop: Sequence[str] = (),
    ids: Sequence[str] = (),
    *,
    seed: int = 0,
    test_size: float = 0.2,
    baselines: bool = True,
) -> Evaluation:
    """Train Topline's scorer on 80 % of a CSV's records and measure it on the other 20 %.

    Exact duplicate rows are dropped first (a copy in both parts would flatter the score),
    then rows with an empty outcome. `target` names the outcome column and `positive` the
    value that counts as the good outcome; id columns and `drop` columns are left out of the
    fields learned from. With `baselines`, a logistic regression and the naive Bayes are
    measured on the same split for comparison.
    """
    frame = read_csv(path)
    target = target.strip()
    named = {"target": [target], "id": [i.strip() for i in ids], "drop": [d.strip() for d in drop]}
    for role, names in named.items():
        for name in names:
            if name not in frame.columns:
                raise InvalidDataset(
                    f"no {role} column {name!r}; the columns are {_columns_hint(frame)}"
                )
    if target in named["id"] or target in named["drop"]:
        raise InvalidDataset(f"{target!r} is the target; it cannot also be dropped or an id")
    rows = len(frame)
    frame = frame.drop_duplicates(ignore_index=True)
    duplicates = rows - len(frame)
    won = outcomes(frame[target], positive)
    known = won.notna().to_numpy()
    frame, won = frame[known].reset_index(drop=True), won[known].reset_index(drop=True)
    y = won.astype(bool).to_numpy().astype(np.int8)
    _check_outcomes(frame[target], y, target, positive)
    features = frame.drop(columns=[target, *named["id"], *named["drop"]])
    if features.shape[1] == 0:
        raise InvalidDataset("no columns are left to learn from after the target, ids and drops")
    categorical, numeric = infer_columns(features)
    train, test = stratified_split(y, test_size=test_size, seed=seed)
    scorer = TabularScorer(random_state=seed)
    scores, probability = score_method(scorer, features, y, train, test)
    measured: dict[str, MethodScores] = {}
    if baselines:
        measured["logistic_regression"], _ = score_method(
            logistic_regression(categorical, numeric, random_state=seed), features, y, train, test
        )
        measured["naive_bayes"], _ = score_method(FrequencyScorer(), features, y, train, test)
    importances = sorted(
        zip(scorer.feature_names_in_.tolist(), scorer.feature_importances_.tolist(), strict=True),
        key=lambda pair: -pair[1],
    )
    return Evaluation(
        auc=scores.auc,
        pr_auc=scores.pr_auc,
        brier=scores.brier,
        n_train=len(train),
        n_test=len(test),
        positive_rate=float(y.mean()),
        calibration_method=scorer.calibration_method_,
        calibration=calibration_table(y[test], probability),
        importances=[(str(name), float(share)) for name, share in importances[:TOP_IMPORTANCES]],
        baselines=measured,
        categorical=categorical,
        numeric=numeric,
        duplicates_dropped=duplicates,
        rows_without_outcome=int((~known).sum()),
        seconds={"fit": scores.fit_seconds, "predict": scores.predict_seconds},
    )


def _check_outcomes(column: pd.Series, y: np.ndarray, target: str, positive: str) -> None:
    """Refuse data sets the metrics would be meaningless on, saying what is wrong."""
    good = int(y.sum())
    other = len(y) - good
    if good == 0:
        values = as_text(column).dropna().value_counts().index.tolist()
        shown = ", ".join(repr(value) for value in values[:10])
        raise InvalidDataset(
            f"no row has {target} = {positive.strip()!r}; its values include {shown or 'none'}"
        )
    if other == 0:
        raise InvalidDataset(
            f"every row has {target} = {positive.strip()!r}; both outcomes are needed to learn"
        )
    if len(y) < MIN_ROWS:
        raise InvalidDataset(
            f"only {len(y)} distinct rows with an outcome; at least {MIN_ROWS} are needed"
        )
    if min(good, other) < MIN_PER_OUTCOME:
        which = f"= {positive.strip()!r}" if good < other else f"other than {positive.strip()!r}"
        raise InvalidDataset(
            f"only {min(good, other)} rows have {target} {which}; at least {MIN_PER_OUTCOME} "
            "of each outcome are needed"
        )
