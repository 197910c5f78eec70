"""How well and how fast Topline's scorer predicts outcomes, against two baselines.

For each data set it fits, on one fixed 80/20 stratified split (seed 0), Topline's calibrated
LightGBM scorer (`TabularScorer`), a logistic regression (one-hot categories, scaled numbers)
and a naive Bayes over per-field value frequencies with Laplace smoothing (`FrequencyScorer`,
Odoo CRM's method), and measures ROC AUC, PR AUC and Brier score on the test rows with the
fit and predict seconds. Then it times Topline's scorer at scale: training on `--scale-rows`
rows (100k by default, the IBM rows drawn with replacement) and scoring as many. Prints one
JSON document with the issue's targets and whether each is met; progress goes to stderr.

Data sets:
- `ibm`: the IBM sales win/loss sample in ../shared/data (target `Opportunity Result` = Won;
  only the ten columns known when a deal opens, as its README lists; the 55 exact duplicate
  rows dropped).
- `demo`: the demo org (`--demo-size`, medium by default: ~60k deals over two years) built into
  a temporary SQLite file; the deals open every `--demo-every` days (30) with their features as
  of then (`topline.scoring.features`), labelled by their outcome as of the org's moment. Split
  out of time and by deal as `topline score train` does (tested on the latest snapshots,
  trained on earlier ones without the tested deals, one row per deal); Topline's scorer is
  configured and its rows weighted (by the moments each deal was open at) as the deal model
  does; the baselines learn from the same rows unweighted. Then, on the same org
  (`demo_scale`): the time `topline score train` takes from snapshots every
  `--demo-scale-every` days (15: ~100k snapshots on the medium org), fitting the scorer on up
  to `--scale-rows` of those snapshots, and `score_open_deals` on about `--scale-rows` open
  deals (the org's open deals copied in
  the database until there are that many): features, one prediction and the bulk insert.
- `demo_leads`: the same org's leads open every `--demo-every` days with their features as of
  then (`topline.scoring.lead_features`), labelled converted within 90 days, split out of time
  and by lead as `topline score train --target leads` does.

    .venv/bin/python benchmarks/scoring.py > scoring.json
    .venv/bin/python benchmarks/scoring.py --datasets ibm --scale-rows 0   # skip the scale run
    .venv/bin/python benchmarks/scoring.py --datasets demo --demo-size small
    .venv/bin/python benchmarks/scoring.py --datasets demo_leads --scale-rows 0
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import sklearn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from topline.scoring.encoding import infer_columns  # noqa: E402
from topline.scoring.estimators import (  # noqa: E402
    FrequencyScorer,
    TabularScorer,
    logistic_regression,
)
from topline.scoring.evaluation import Classifier, score_method, stratified_split  # noqa: E402

IBM_FILE = Path("ibm_sales_win_loss") / "WA_Fn-UseC_-Sales-Win-Loss.csv"
# Known when a deal opens (the README of the data set); the other columns describe the finished
# sales cycle and would leak the outcome.
IBM_COLUMNS = [
    "Supplies Subgroup",
    "Supplies Group",
    "Region",
    "Route To Market",
    "Opportunity Amount USD",
    "Client Size By Revenue",
    "Client Size By Employee Count",
    "Revenue From Client Past Two Years",
    "Competitor Type",
    "Deal Size Category",
]


@dataclass
class Dataset:
    """Records' fields and outcomes (1 = the good one) for one benchmark entry."""

    name: str
    description: str
    fields: pd.DataFrame
    outcomes: np.ndarray
    duplicates_dropped: int = 0
    # A fixed (train, test) split of row positions instead of the stratified 80/20 one, and
    # Topline's scorer as the product configures it for this data.
    split: tuple[np.ndarray, np.ndarray] | None = None
    scorer: TabularScorer | None = None
    # Topline's weights of the training rows, as `topline score train` gives them (the
    # baselines learn from the rows unweighted).
    train_weight: np.ndarray | None = None
    details: dict[str, Any] = field(default_factory=dict)


def load_ibm(data_dir: Path) -> Dataset:
    """The IBM sales win/loss sample: ten opening-time columns, exact duplicates dropped."""
    frame = pd.read_csv(data_dir / IBM_FILE)
    unique = frame.drop_duplicates(ignore_index=True)
    won = (unique["Opportunity Result"].astype(str).str.strip() == "Won").to_numpy()
    return Dataset(
        name="ibm",
        description="IBM sales win/loss sample, Opportunity Result = Won, ten opening columns",
        fields=unique[IBM_COLUMNS],
        outcomes=won.astype(np.int8),
        duplicates_dropped=len(frame) - len(unique),
    )


@dataclass
class DemoOrg:
    """A demo org in a temporary SQLite file, and the moment it was built as of."""

    directory: tempfile.TemporaryDirectory[str]
    url: str
    as_of: datetime
    build_seconds: float


@functools.cache
def demo_org(size: str, seed: int) -> DemoOrg:
    """Build the demo org once per run (the data set and the timing run share it)."""
    from topline.demo import DEFAULT_AS_OF, build_demo
    from topline.storage.db import make_engine

    directory = tempfile.TemporaryDirectory(prefix="topline-bench-scoring-")
    url = f"sqlite:///{Path(directory.name) / 'demo.sqlite'}"
    _log(f"demo: building the {size} org")
    engine = make_engine(url)
    started = time.perf_counter()
    build_demo(engine, size=size, seed=seed)
    seconds = time.perf_counter() - started
    engine.dispose()
    return DemoOrg(directory, url, DEFAULT_AS_OF, seconds)


def load_demo(data_dir: Path, *, size: str = "medium", every_days: int = 30) -> Dataset:
    """The demo org's deals open at past moments, split out of time and by deal."""
    from sqlalchemy.orm import Session

    from topline.scoring.features import FEATURES
    from topline.scoring.training import deal_snapshots, new_scorer, out_of_time_split
    from topline.storage.db import make_engine

    org = demo_org(size, 42)
    engine = make_engine(org.url)
    _log(f"demo: snapshots every {every_days} days")
    started = time.perf_counter()
    with Session(engine) as session:
        snapshots = deal_snapshots(session, org.as_of, every_days=every_days)
    seconds = time.perf_counter() - started
    engine.dispose()
    split = out_of_time_split(snapshots)
    assert split is not None, "the demo org has too little history to split"
    return Dataset(
        name="demo",
        description=f"Demo org ({size}, seed 42): deals open every {every_days} days, won as of "
        f"{org.as_of:%Y-%m-%d}; tested on snapshots from {split.cutoff:%Y-%m-%d}",
        fields=snapshots.frame[FEATURES],
        outcomes=snapshots.outcomes,
        split=(split.train, split.test),
        scorer=new_scorer(len(split.train)),
        train_weight=split.train_weight,
        details={
            "snapshots": len(snapshots.frame),
            "snapshot_moments": len(snapshots.moments),
            "distinct_deals": int(snapshots.frame["deal_id"].nunique()),
            "test_from": split.cutoff.isoformat(),
            "build_seconds": round(org.build_seconds, 1),
            "snapshot_seconds": round(seconds, 1),
        },
    )


def load_demo_leads(
    data_dir: Path, *, size: str = "medium", every_days: int = 30, target: str = "converted"
) -> Dataset:
    """The demo org's leads open at past moments (`topline.scoring.lead_features`), labelled
    converted within 90 days, split out of time and by lead as `topline score train --target
    leads` does."""
    from sqlalchemy.orm import Session

    from topline.scoring.lead_features import HORIZON_DAYS, LEAD_FEATURES
    from topline.scoring.training import lead_snapshots, new_scorer, out_of_time_split
    from topline.storage.db import make_engine

    org = demo_org(size, 42)
    engine = make_engine(org.url)
    _log(f"demo_leads: snapshots every {every_days} days")
    started = time.perf_counter()
    with Session(engine) as session:
        snapshots = lead_snapshots(session, org.as_of, target=target, every_days=every_days)
    seconds = time.perf_counter() - started
    engine.dispose()
    split = out_of_time_split(snapshots)
    assert split is not None, "the demo org has too little lead history to split"
    return Dataset(
        name="demo_leads",
        description=f"Demo org ({size}, seed 42): leads open every {every_days} days, {target} "
        f"within {HORIZON_DAYS} days as of {org.as_of:%Y-%m-%d}; tested on snapshots from "
        f"{split.cutoff:%Y-%m-%d}",
        fields=snapshots.frame[LEAD_FEATURES],
        outcomes=snapshots.outcomes,
        split=(split.train, split.test),
        scorer=new_scorer(len(split.train)),
        train_weight=split.train_weight,
        details={
            "snapshots": len(snapshots.frame),
            "snapshot_moments": len(snapshots.moments),
            "distinct_leads": int(snapshots.frame["lead_id"].nunique()),
            "test_from": split.cutoff.isoformat(),
            "snapshot_seconds": round(seconds, 1),
        },
    )


DATASETS: dict[str, Callable[[Path], Dataset]] = {
    "ibm": load_ibm,
    "demo": load_demo,
    "demo_leads": load_demo_leads,
}


def methods(
    fields: pd.DataFrame, seed: int, scorer: TabularScorer | None = None
) -> dict[str, Classifier]:
    """Topline's scorer and the two baselines, fresh for one data set."""
    categorical, numeric = infer_columns(fields)
    return {
        "topline": scorer if scorer is not None else TabularScorer(random_state=seed),
        "logistic_regression": logistic_regression(categorical, numeric, random_state=seed),
        "naive_bayes": FrequencyScorer(),
    }


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(dataset: Dataset, seed: int) -> tuple[dict[str, Any], TabularScorer]:
    """Every method on the data set's fixed split; also returns Topline's fitted scorer."""
    if dataset.split is not None:
        train, test = dataset.split
    else:
        train, test = stratified_split(dataset.outcomes, seed=seed)
    results: dict[str, Any] = {}
    models = methods(dataset.fields, seed, dataset.scorer)
    for name, model in models.items():
        _log(f"{dataset.name}: {name}")
        weight = dataset.train_weight if name == "topline" else None
        scores, _ = score_method(
            model, dataset.fields, dataset.outcomes, train, test, sample_weight=weight
        )
        results[name] = {
            "auc": round(scores.auc, 4),
            "pr_auc": round(scores.pr_auc, 4),
            "brier": round(scores.brier, 4),
            "fit_seconds": round(scores.fit_seconds, 2),
            "predict_seconds": round(scores.predict_seconds, 3),
        }
    topline = models["topline"]
    assert isinstance(topline, TabularScorer)
    results["topline"]["trees"] = topline.n_estimators_
    results["topline"]["calibration"] = topline.calibration_method_
    results["topline"]["blend_weight"] = topline.blend_weight_
    summary = {
        "description": dataset.description,
        "rows": len(dataset.outcomes),
        "duplicates_dropped": dataset.duplicates_dropped,
        "n_train": len(train),
        "n_test": len(test),
        "positive_rate": round(float(dataset.outcomes.mean()), 4),
        "methods": results,
        **dataset.details,
    }
    return summary, topline


def measure_scale(
    dataset: Dataset, fitted_model: TabularScorer, rows: int, seed: int
) -> dict[str, Any]:
    """Train Topline's scorer on `rows` records drawn with replacement, then score as many.

    Drawn rows repeat, so the held-out fold shares records with the training part, early
    stopping never stops and the model grows to its cap of trees: both times are pessimistic.
    For a realistic scoring time, the scorer fitted on the data set's own training rows (which
    stopped early) also scores the drawn rows.
    """
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(dataset.outcomes), size=rows)
    fields = dataset.fields.iloc[chosen].reset_index(drop=True)
    outcomes = dataset.outcomes[chosen]
    _log(f"scale: training on {rows:,} rows")
    scorer = TabularScorer(random_state=seed)
    started = time.perf_counter()
    scorer.fit(fields, outcomes)
    fitted = time.perf_counter()
    _log(f"scale: scoring {rows:,} rows")
    scorer.predict_proba(fields)
    done = time.perf_counter()
    fitted_model.predict_proba(fields)
    again = time.perf_counter()
    return {
        "dataset": dataset.name,
        "rows": rows,
        "trees": scorer.n_estimators_,
        "fit_seconds": round(fitted - started, 2),
        "predict_seconds": round(done - fitted, 3),
        "early_stopped_model": {
            "trees": fitted_model.n_estimators_,
            "predict_seconds": round(again - done, 3),
        },
    }


def copy_open_deals(session: Any, deal_ids: list[int], copies: int) -> None:
    """Copy the deals `deal_ids` (with their history and activities) `copies` times under new
    ids, so the org has that many times more deals open (a scoring load, not new selling)."""
    from sqlalchemy import func, insert, select

    from topline.crm.models import Activity, Deal, DealHistory

    deals, history, activities = Deal.__table__, DealHistory.__table__, Activity.__table__
    steps = {t.name: int(session.scalar(select(func.max(t.c.id))) or 0) + 1
             for t in (deals, history, activities)}  # fmt: skip
    for copy in range(1, copies + 1):
        shift = copy * steps["deals"]
        for table, key in ((deals, "id"), (history, "deal_id"), (activities, "deal_id")):
            moved = {"id": table.c.id + copy * steps[table.name], "deal_id": None}
            if table is not deals:
                moved["deal_id"] = table.c.deal_id + shift
            columns = [
                moved[c.name].label(c.name) if moved.get(c.name) is not None else c for c in table.c
            ]
            session.execute(
                insert(table).from_select(
                    [c.name for c in table.c],
                    select(*columns).where(table.c[key].in_(deal_ids)),
                )
            )


def measure_demo_scale(size: str, seed: int, every_days: int, rows: int) -> dict[str, Any]:
    """`topline score train` on dense snapshots of the demo org, a fit on `rows` of them, and
    `score_open_deals` on about `rows` open deals."""
    from sqlalchemy.orm import Session

    from topline.scoring.features import FEATURES, deal_features
    from topline.scoring.service import build_deal_model, save_model, score_open_deals
    from topline.scoring.training import deal_snapshots, new_scorer
    from topline.storage.db import make_engine

    org = demo_org(size, seed)
    engine = make_engine(org.url)
    result: dict[str, Any] = {"org": size, "snapshot_every_days": every_days}
    with Session(engine) as session:
        _log(f"demo scale: snapshots every {every_days} days")
        started = time.perf_counter()
        snapshots = deal_snapshots(session, org.as_of, every_days=every_days)
        result["snapshots"] = len(snapshots.frame)
        result["snapshot_seconds"] = round(time.perf_counter() - started, 2)
        taken = snapshots.frame.iloc[: min(rows, len(snapshots.frame))]
        _log(f"demo scale: fitting on {len(taken):,} snapshots")
        started = time.perf_counter()
        scorer = new_scorer(len(taken), seed).fit(taken[FEATURES], snapshots.outcomes[: len(taken)])
        result["fit_rows"] = len(taken)
        result["fit_seconds"] = round(time.perf_counter() - started, 2)
        result["fit_trees"] = scorer.n_estimators_
        result["fit_blend_weight"] = scorer.blend_weight_
        _log("demo scale: topline score train (snapshots, evaluation with baselines, refit)")
        started = time.perf_counter()
        model = build_deal_model(session, as_of=org.as_of, every_days=every_days)
        result["train_seconds"] = round(time.perf_counter() - started, 2)
        result["train_method"] = model.method
        save_model(session, model)
        session.commit()
        open_ids = deal_features(session, org.as_of)["deal_id"].tolist()
        copies = max(0, -(-rows // max(len(open_ids), 1)) - 1)
        _log(f"demo scale: copying {len(open_ids):,} open deals {copies} times")
        copy_open_deals(session, open_ids, copies)
        session.commit()
        started = time.perf_counter()
        features = deal_features(session, org.as_of)
        result["open_deals"] = len(features)
        result["features_seconds"] = round(time.perf_counter() - started, 2)
        _log(f"demo scale: scoring {len(features):,} open deals")
        started = time.perf_counter()
        scored = score_open_deals(session, as_of=org.as_of, model=model)
        session.commit()
        result["scored"] = scored
        result["score_seconds"] = round(time.perf_counter() - started, 2)
    engine.dispose()
    return result


def targets(
    results: dict[str, Any], scale: dict[str, Any] | None, demo_scale: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The issue's targets, each with the measured value and whether it is met."""
    found: dict[str, Any] = {}
    if "demo" in results:
        demo = results["demo"]["methods"]
        baselines = ("logistic_regression", "naive_bayes")
        found["demo_auc_above_both_baselines"] = {
            "value": demo["topline"]["auc"],
            "baselines": {name: demo[name]["auc"] for name in baselines},
            "met": all(demo["topline"]["auc"] > demo[name]["auc"] for name in baselines),
        }
        found["demo_brier_below_both_baselines"] = {
            "value": demo["topline"]["brier"],
            "baselines": {name: demo[name]["brier"] for name in baselines},
            "met": all(demo["topline"]["brier"] < demo[name]["brier"] for name in baselines),
        }
    if "demo_leads" in results:
        leads = results["demo_leads"]["methods"]
        baselines = ("logistic_regression", "naive_bayes")
        found["demo_leads_auc_above_both_baselines"] = {
            "value": leads["topline"]["auc"],
            "baselines": {name: leads[name]["auc"] for name in baselines},
            "met": all(leads["topline"]["auc"] > leads[name]["auc"] for name in baselines),
        }
    if demo_scale is not None:
        found["demo_train_100k_snapshots_under_60_s"] = {
            "value": demo_scale["train_seconds"],
            "snapshots": demo_scale["snapshots"],
            "met": demo_scale["snapshots"] >= 100_000 and demo_scale["train_seconds"] < 60,
        }
        found["demo_score_100k_open_deals_under_5_s"] = {
            "value": demo_scale["score_seconds"],
            "open_deals": demo_scale["scored"],
            "met": demo_scale["scored"] >= 100_000 and demo_scale["score_seconds"] < 5,
        }
    if "ibm" in results:
        ibm = results["ibm"]["methods"]
        found["ibm_auc_at_least_0.85"] = {
            "value": ibm["topline"]["auc"],
            "met": ibm["topline"]["auc"] >= 0.85,
        }
        found["ibm_brier_below_logistic_regression"] = {
            "value": ibm["topline"]["brier"],
            "baseline": ibm["logistic_regression"]["brier"],
            "met": ibm["topline"]["brier"] < ibm["logistic_regression"]["brier"],
        }
    if scale is not None:
        found["train_100k_under_60_s"] = {
            "value": scale["fit_seconds"],
            "met": scale["rows"] >= 100_000 and scale["fit_seconds"] < 60,
        }
        found["score_100k_under_5_s"] = {
            "value": scale["predict_seconds"],
            "met": scale["rows"] >= 100_000 and scale["predict_seconds"] < 5,
        }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--scale-rows", type=int, default=100_000, help="rows for the timing run (0 skips it)"
    )
    parser.add_argument("--demo-size", default="medium", help="small, medium or large")
    parser.add_argument("--demo-every", type=int, default=30, help="days between snapshots")
    parser.add_argument(
        "--demo-scale-every", type=int, default=15, help="days between snapshots when timing"
    )
    args = parser.parse_args()
    DATASETS["demo"] = functools.partial(load_demo, size=args.demo_size, every_days=args.demo_every)
    DATASETS["demo_leads"] = functools.partial(
        load_demo_leads, size=args.demo_size, every_days=args.demo_every
    )
    names = [name.strip() for name in args.datasets.split(",") if name.strip()]
    unknown = [name for name in names if name not in DATASETS]
    if unknown:
        parser.error(f"unknown data sets {unknown}; known: {', '.join(DATASETS)}")
    load_average = os.getloadavg()[0]
    loaded = {name: DATASETS[name](args.data) for name in names}
    results: dict[str, Any] = {}
    models: dict[str, TabularScorer] = {}
    for name, dataset in loaded.items():
        results[name], models[name] = measure(dataset, args.seed)
    scale = None
    if args.scale_rows > 0:
        first = names[0]
        scale = measure_scale(loaded[first], models[first], args.scale_rows, args.seed)
    demo_scale = None
    if "demo" in names and args.scale_rows > 0:
        demo_scale = measure_demo_scale(args.demo_size, 42, args.demo_scale_every, args.scale_rows)
    document = {
        "seed": args.seed,
        "results": results,
        "scale": scale,
        "demo_scale": demo_scale,
        "targets": targets(results, scale, demo_scale),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": round(load_average, 2),
            "python": platform.python_version(),
            "lightgbm": lightgbm.__version__,
            "scikit_learn": sklearn.__version__,
            "threads": TabularScorer().n_jobs,
        },
    }
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
