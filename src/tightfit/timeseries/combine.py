"""Forecast combinations chosen on validation: the equal mean of the statistical models unless one model is clearly
better (the default), or the best single model, an inverse-error weighted mean of the top models, or their median —
whichever scored lowest on the rolling-origin windows every member was validated on.

Combining the top few forecasts is more robust than trusting the single best validation mean (the M4
competition's lesson: a model that wins a few windows often loses the held-out horizon). A combination's
validation score is exact, not re-fitted: each member's signed errors on each window are stored, its forecasts
are ``truth - error``, and the combined forecast is scored with the same metric and rows as the members.

The default (``"statistical"``) starts from a prior, not from the validation ranking: the equal-weight mean of
AutoETS, AutoTheta and AutoARIMA (M4's combination benchmarks; equal weights, as estimated ones lose the gain on
few windows), replaced by the best validated model only when its per-row validation errors are lower by more than
``CLEAR_GAIN_STANDARD_ERRORS`` standard errors (:func:`tightfit.search.evidence.clear_gain`). With many series or
windows the evidence is strong and a clearly better model wins; with one short series it rarely is. On series of
at most ``SHORT_HISTORY`` points the prior is AutoARIMA alone (``SHORT_PRIOR``): there it beat the mean on held-out
horizons in every set of real series it was tried on (``benchmarks/forecast.py``'s sets, README).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from tightfit.search.evidence import clear_gain
from tightfit.timeseries.intervals import reach
from tightfit.timeseries.metrics import forecast_scores

__all__ = [
    "CLEAR_GAIN_STANDARD_ERRORS",
    "ENSEMBLE",
    "ENSEMBLES",
    "SHORT_HISTORY",
    "SHORT_PRIOR",
    "STATISTICAL",
    "Combination",
    "ValidationRecord",
    "choose_combination",
    "choose_like_for_like",
    "combine_records",
    "combine_values",
    "describe_members",
    "statistical_prior",
]

ENSEMBLE = "Ensemble"  # the name a combined forecast goes by (its columns, its calibration)
ENSEMBLES = ("statistical", "median", "weighted", "auto")
STATISTICAL = ("AutoETS", "AutoTheta", "AutoARIMA")  # the statistical prior's members, equally weighted
SHORT_PRIOR = ("AutoARIMA",)  # the prior on series of at most SHORT_HISTORY points (their median length)
SHORT_HISTORY = 50
CLEAR_GAIN_STANDARD_ERRORS = 2.0  # a single model replaces the prior only when better by this many standard errors


@dataclasses.dataclass(frozen=True)
class ValidationRecord:
    """One model's validation: rows are (series, window) pairs, newest window first, each ``horizon`` long."""

    errors: np.ndarray  # truth - forecast
    truths: np.ndarray
    scales: np.ndarray  # per row: the in-sample seasonal-naive mean absolute error (MASE's denominator)
    # per level (percent): the model's own half-widths below and above its forecast, each rows x steps; empty for a
    # model without intervals of its own
    halves: dict[str, tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.errors)

    @property
    def reaches(self) -> dict[str, np.ndarray]:
        """Per level, rows x steps: the multiple of the model's own half-width that reaches the truth
        (:func:`tightfit.timeseries.intervals.reach`)."""
        guesses = self.truths - self.errors
        return {lv: reach(self.truths, guesses, guesses - below, guesses + above)
                for lv, (below, above) in self.halves.items()}  # fmt: skip

    def scores(self, metric: str) -> np.ndarray:
        """Per row (newest window first), ``metric`` of the forecast ``truth - error``."""
        return row_scores(metric, self.truths, self.truths - self.errors, self.scales)


@dataclasses.dataclass(frozen=True)
class Combination:
    """``members`` (best first; the statistical prior in stack order) and how they combine: ``weights`` for a
    weighted mean (equal: the prior), ``None`` for the median (one member: itself); ``score`` is the validation
    metric on the rows all members share."""

    members: tuple[str, ...]
    weights: tuple[float, ...] | None
    score: float

    @property
    def kind(self) -> str:
        return "single" if len(self.members) == 1 else ("median" if self.weights is None else "weighted")

    def describe(self) -> str:
        return describe_members(self.members, self.weights)


def describe_members(members: Sequence[str], weights: Sequence[float] | None) -> str:
    """How ``members`` combine, in words: the one model, their median (``weights`` None), their equal mean, or
    their weighted mean with each share (a Forecaster's fitted ``members_`` and ``weights_`` read the same way)."""
    if len(members) == 1:
        return members[0]
    if weights is None:
        return f"median of {', '.join(members)}"
    if len(set(weights)) == 1:
        return f"equal mean of {', '.join(members)}"
    shares = zip(members, weights, strict=True)
    return "weighted mean of " + ", ".join(f"{m} ({w:.2f})" for m, w in shares)


def row_scores(metric: str, truths: np.ndarray, guesses: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Per row, ``metric`` as the validation scored it (:func:`~tightfit.timeseries.metrics.forecast_scores`)."""
    rows = zip(truths, guesses, scales, strict=True)
    return np.array([forecast_scores(truth, guess, scale)[metric] for truth, guess, scale in rows])


def choose_like_for_like(fits: Sequence, metric: str) -> tuple:
    """The validated model (a search entry whose artefact is its :class:`ValidationRecord`) with the best mean
    ``metric``, comparing like for like: a model the time let validate on fewer windows is compared with the best
    fully validated one on the newest windows they share, not its few windows' mean against their many (one
    window can favour any model). Returns (entry, reason)."""
    scored = [(e, e.artefact.scores(metric)) for e in fits]
    most = max(len(rows) for _, rows in scored)
    full = min((pair for pair in scored if len(pair[1]) == most), key=lambda pair: pair[1].mean())
    rivals = [(e, rows) for e, rows in scored if len(rows) < most and rows.mean() < full[1][: len(rows)].mean()]
    pool = [full, *rivals]
    shared = min(len(rows) for _, rows in pool)
    winner = min(pool, key=lambda pair: pair[1][:shared].mean())[0]
    reason = f"best {metric} among the {len(fits)} that fit"
    if rivals:
        names = ", ".join(e.name for e, _ in pool)
        reason += f" ({names} compared on the {shared} newest validation rows they all have)"
    return winner, reason


def combine_values(values: Sequence[np.ndarray], weights: Sequence[float] | None) -> np.ndarray:
    """The weighted mean of ``values`` (member arrays of one shape), or their median when ``weights`` is None."""
    stacked = np.stack([np.asarray(v, dtype=float) for v in values])
    if weights is None:
        return np.median(stacked, axis=0)
    return np.tensordot(np.asarray(weights, dtype=float), stacked, axes=1)


def combine_records(records: dict[str, ValidationRecord], members: Sequence[str],
                    weights: Sequence[float]) -> ValidationRecord:  # fmt: skip
    """The validation record of the weighted mean of ``members`` on the rows they share: its errors, and as its
    own half-widths the weighted mean of theirs (every member must have intervals of its own)."""
    rows = min(len(records[m]) for m in members)
    first = records[members[0]]
    halves = {
        lv: tuple(combine_values([records[m].halves[lv][side][:rows] for m in members], weights) for side in (0, 1))
        for lv in first.halves
    }
    errors = combine_values([records[m].errors[:rows] for m in members], weights)
    return ValidationRecord(errors, first.truths[:rows], first.scales[:rows], halves)


def inverse_error_weights(scores: Sequence[float]) -> tuple[float, ...]:
    """Weights proportional to 1 / validation error (a perfect score is capped, not infinite), summing to 1."""
    inverse = 1.0 / np.maximum(np.asarray(scores, dtype=float), 1e-9)
    return tuple((inverse / inverse.sum()).tolist())


def _row_scores(records: dict[str, ValidationRecord], members: Sequence[str], weights, metric: str,
                rows: int) -> np.ndarray:  # fmt: skip
    first = records[members[0]]
    truths, scales = first.truths[:rows], first.scales[:rows]
    guesses = combine_values([truths - records[m].errors[:rows] for m in members], weights)
    return row_scores(metric, truths, guesses, scales)


def _score(records: dict[str, ValidationRecord], members: Sequence[str], weights, metric: str, rows: int) -> float:
    return float(_row_scores(records, members, weights, metric, rows).mean())


def statistical_prior(history: int | None) -> tuple[str, ...]:
    """The prior's members for series of ``history`` points (their median length; None: unknown, the long one)."""
    return SHORT_PRIOR if history is not None and history <= SHORT_HISTORY else STATISTICAL


def choose_statistical(records: dict[str, ValidationRecord], best: str, metric: str,
                       history: int | None = None) -> tuple[Combination, list]:  # fmt: skip
    """The equal-weight mean of the validated members of the prior for series of ``history`` points
    (:func:`statistical_prior`), unless ``best`` (the best validated model) beats it per validation row by more
    than ``CLEAR_GAIN_STANDARD_ERRORS`` standard errors (both scored on the rows they share); ``best`` alone when
    the prior's model did not validate, or fewer than two of the mean's did. Returns (chosen, [best alone, the
    prior])."""
    prior_members = statistical_prior(history)
    members = tuple(m for m in prior_members if m in records)
    if len(members) < min(2, len(prior_members)):
        alone = Combination((best,), None, float(records[best].scores(metric).mean()))
        return alone, [alone]
    rows = min(len(records[m]) for m in (*members, best))
    weights = (1.0 / len(members),) * len(members)
    prior_rows = _row_scores(records, members, weights, metric, rows)
    best_rows = records[best].scores(metric)[:rows]
    prior = Combination(members, weights, float(prior_rows.mean()))
    alone = Combination((best,), None, float(best_rows.mean()))
    gain = clear_gain(prior_rows, best_rows, CLEAR_GAIN_STANDARD_ERRORS)
    return (prior if gain is None else alone), [alone, prior]


def candidates(ranked: Sequence[str], scores: dict[str, float], mode: str | None, top_k: int) -> list:
    """(members, weights) pairs ``mode`` chooses among: None the best alone; "median"/"weighted" the top ``top_k``;
    "auto" the best alone, weighted means of the top 2..``top_k`` and medians of the top 3..``top_k``."""
    best = [((ranked[0],), None)]
    if mode is None or len(ranked) < 2:
        return best
    top = tuple(ranked[:top_k])
    if mode == "median":
        return [(top, None)]
    if mode == "weighted":
        return [(top, inverse_error_weights([scores[m] for m in top]))]
    weighted = [(tuple(ranked[:k]), inverse_error_weights([scores[m] for m in ranked[:k]]))
                for k in range(2, min(top_k, len(ranked)) + 1)]  # fmt: skip
    medians = [(tuple(ranked[:k]), None) for k in range(3, min(top_k, len(ranked)) + 1)]
    return best + weighted + medians


def choose_combination(records: dict[str, ValidationRecord], ranked: Sequence[str], scores: dict[str, float],
                       metric: str, mode: str | None, top_k: int,
                       history: int | None = None) -> tuple[Combination, list[Combination]]:  # fmt: skip
    """The combination with the lowest validation score among ``mode``'s candidates (ties: fewer members), and
    every candidate scored, all on the same rows: those every member of any candidate was validated on (rows run
    newest window first, so a model validated on fewer windows shares the newest ones). ``"statistical"``:
    :func:`choose_statistical` for series of ``history`` points."""
    if mode == "statistical":
        return choose_statistical(records, ranked[0], metric, history)
    options = candidates(ranked, scores, mode, top_k)
    rows = min(len(records[m]) for members, _ in options for m in members)
    scored = [Combination(m, w, _score(records, m, w, metric, rows)) for m, w in options]
    chosen = min(scored, key=lambda c: (round(c.score, 12), len(c.members)))
    return chosen, scored
