"""Every metric and sales term Topline shows, in the product's own words, with its formula.

Pages show a term's `definition` as a tooltip where its number appears and list every term on
the glossary page; the formulas are the ones the reports compute (DESIGN.md section 5 and the
report modules' docstrings).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """A term: its `slug` (the page anchor), name, one-sentence definition and formula."""

    slug: str
    name: str
    definition: str
    formula: str | None = None
    group: str = "Metrics"


TERMS: tuple[Term, ...] = (
    # --- Pipeline ---
    Term("open-pipeline", "Open pipeline", "The deals not yet won or lost, at their amounts.",
         "Σ amount of open deals (closing in the period, where a period applies)", "Pipeline"),
    Term("weighted-pipeline", "Weighted pipeline",
         "Open pipeline counted at each deal's stage probability.",
         "Σ amount × stage probability", "Pipeline"),
    Term("pipeline-coverage", "Pipeline coverage",
         "How many times the open pipeline closing in the period covers what is left of the "
         "quota.", "open pipeline closing in the period / (quota − won so far)", "Pipeline"),
    Term("pipeline-growth", "Pipeline created (growth)",
         "The amount of the deals created in the period, at their amounts when created, "
         "against the previous period.",
         "created this period / created in the previous period − 1", "Pipeline"),
    Term("pipeline-velocity", "Pipeline velocity",
         "How much money the pipeline turns into per day, over a trailing window.",
         "open deals × average won amount × win rate / average cycle days", "Pipeline"),
    Term("slippage", "Slippage",
         "Deals whose close date was moved out of the period while they were open, with how "
         "often they were pushed.", None, "Pipeline"),
    Term("waterfall", "Waterfall",
         "How the open pipeline of a period changed between two moments, reconciled exactly.",
         "open at A + created + pulled in + increased − decreased − pushed out − won − lost − "
         "other = open at B", "Pipeline"),
    Term("deals-at-risk", "Deals at risk",
         "Open deals showing a warning sign: past their close date, without a next step, gone "
         "quiet (nothing logged or changed in 30 days) or slipped (close date moved later in "
         "the last 30 days).", None, "Pipeline"),
    # --- Results ---
    Term("win-rate", "Win rate",
         "The share of the deals closed in the period that were won, by count (and by value).",
         "won / (won + lost)", "Results"),
    Term("sales-cycle", "Sales cycle",
         "Days from a deal's creation to its close, for won deals (median and mean).",
         "closed_at − created_at, in days", "Results"),
    Term("stage-conversion", "Stage conversion",
         "Of the deals that entered a stage, the share that later entered a later stage or won.",
         "advanced / entered", "Results"),
    Term("time-in-stage", "Time in stage",
         "Median days between entering a stage and leaving it.", None, "Results"),
    Term("quota", "Quota", "The amount a rep or team is expected to win in a period.", None,
         "Results"),
    Term("attainment", "Attainment", "How much of the quota has been won.", "won / quota",
         "Results"),
    Term("leaderboard", "Leaderboard",
         "The people of a scope ranked by the amount they won in the period.", None, "Results"),
    Term("concentration", "Concentration (80/20)",
         "The share of won revenue that comes from the top 20% of accounts, and of reps.",
         None, "Results"),
    Term("ramp-up-time", "Ramp-up time",
         "Days from a rep's hiring until their trailing 90-day bookings first reach the median "
         "of reps with more than a year of tenure.", None, "Results"),
    # --- Revenue ---
    Term("mrr", "MRR (monthly recurring revenue)",
         "The recurring amounts of the won subscription deals, per account: a won renewal "
         "replaces an account's MRR, a lost renewal ends it.", None, "Revenue"),
    Term("nrr", "NRR (net revenue retention)",
         "What the accounts that paid 12 months ago pay now, against what they paid then.",
         "(starting MRR + expansion − contraction − churn) / starting MRR", "Revenue"),
    Term("expansion", "Expansion, contraction, churn",
         "An account's MRR going up, down (not to zero), or to zero.", None, "Revenue"),
    # --- Forecasting ---
    Term("forecast-call", "Forecast call",
         "The number a person submits for a period: commit, best case and pipeline, each "
         "including the one before.", "commit ≤ best case ≤ pipeline", "Forecasting"),
    Term("commit", "Commit",
         "What a rep is confident will close in the period, won deals included.", None,
         "Forecasting"),
    Term("best-case", "Best case", "The commit plus the deals that could also close.", None,
         "Forecasting"),
    Term("forecast-category", "Forecast category",
         "How the owner calls a deal: pipeline, best case, commit, closed or omitted.", None,
         "Forecasting"),
    Term("stale-call", "Stale call",
         "A person's own call not renewed in the last 7 days.", None, "Forecasting"),
    Term("forecast-bias", "Forecast bias",
         "How far a person's past calls were from what was won: below −10% is a sandbagger, "
         "above +10% optimistic.", "(forecast − actual) / actual", "Forecasting"),
    Term("forecast-accuracy", "Forecast accuracy",
         "How close a forecast made at a stated horizon came to what the period won.",
         "1 − |forecast − actual| / actual", "Forecasting"),
    Term("projection", "Projection",
         "Won so far, plus each open deal times its calibrated chance of closing won in the "
         "period, plus what deals not yet created will win (the run rate).", None,
         "Forecasting"),
    Term("p10-p90", "P10–P90 range",
         "The range the period's won amount should land in 8 times out of 10: the 10th and "
         "90th percentiles of 4,000 simulated quarters.", None, "Forecasting"),
    Term("stage-weighted", "Stage-weighted pipeline",
         "Won so far plus each open deal closing in the period at its stage's probability.",
         "won + Σ amount × stage probability", "Forecasting"),
    Term("historical-conversion", "Historical conversion",
         "Won so far plus each open deal at the share of similar deals (stage, days in stage, "
         "weeks left) that closed won inside their period.", None, "Forecasting"),
    Term("category-rollup", "Category roll-up",
         "Won so far plus commit deals in full and the historical share of best-case deals.",
         "won + commit + share × best case", "Forecasting"),
    Term("run-rate", "Run rate",
         "What a period wins from deals not yet created, learned from the same point of past "
         "periods and scaled to today's pipeline.", None, "Forecasting"),
    # --- Leads and scoring ---
    Term("mql", "MQL (marketing-qualified lead)",
         "A lead marketing judges ready for sales to work.", None, "Leads and scoring"),
    Term("sql", "SQL (sales-qualified lead)",
         "A lead sales has qualified: at least three of the four BANT criteria are met.",
         None, "Leads and scoring"),
    Term("buying-committee", "Buying committee",
         "The people at the customer who decide a deal together, each with a role: decision "
         "maker, champion, influencer, blocker or user. A deal with the decision maker and a "
         "champion covered is better placed than one with a single contact.", None,
         "Leads and scoring"),
    Term("bant", "BANT",
         "Budget, Authority, Need, Timeline: the four questions that qualify a lead.", None,
         "Leads and scoring"),
    Term("win-probability", "Win probability",
         "The calibrated chance that an open deal is eventually won, with the factors that "
         "push it up and down.", None, "Leads and scoring"),
    Term("lead-score", "Lead score",
         "The calibrated chance that a lead converts into a deal (or into a won deal).", None,
         "Leads and scoring"),
    Term("icp-fit", "ICP fit",
         "0–100: how closely an account resembles the accounts that became customers.", None,
         "Leads and scoring"),
)  # fmt: skip

BY_SLUG = {term.slug: term for term in TERMS}


def define(slug: str) -> str:
    """A term's definition (with its formula), for a tooltip."""
    term = BY_SLUG[slug]
    return f"{term.definition} ({term.formula})" if term.formula else term.definition


def search(query: str) -> list[Term]:
    """The terms whose name, definition or formula contains every word of `query`."""
    words = query.casefold().split()
    found = []
    for term in TERMS:
        text = f"{term.name} {term.definition} {term.formula or ''}".casefold()
        if all(word in text for word in words):
            found.append(term)
    return found
