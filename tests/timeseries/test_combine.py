"""Forecast combinations: scored exactly from each model's stored validation errors, chosen by that score, and
used by the Forecaster (weighted mean or median of its members), through save and load."""

import numpy as np
import pandas as pd
import pytest

from tightfit.errors import ConfigError
from tightfit.search import Entry
from tightfit.timeseries import Forecaster, mase
from tightfit.timeseries.combine import (
    ValidationRecord,
    choose_combination,
    choose_like_for_like,
    inverse_error_weights,
)


def records_of(truths: np.ndarray, histories: list[np.ndarray], forecasts: dict[str, np.ndarray]) -> dict:
    scales = np.array([np.mean(np.abs(np.diff(h))) for h in histories])
    return {name: ValidationRecord(truths - f, truths, scales) for name, f in forecasts.items()}


def test_a_combination_is_scored_as_if_its_forecast_had_been_validated():
    rng = np.random.default_rng(0)
    histories = [rng.normal(size=30).cumsum() for _ in range(4)]
    truths = rng.normal(size=(4, 6))
    forecasts = {"a": truths + rng.normal(0, 1.0, (4, 6)), "b": truths + rng.normal(0, 1.5, (4, 6)),
                 "c": truths + rng.normal(0, 3.0, (4, 6))}  # fmt: skip
    records = records_of(truths, histories, forecasts)
    scores = {n: np.mean([mase(truths[i], f[i], histories[i], 1) for i in range(4)]) for n, f in forecasts.items()}
    ranked = sorted(scores, key=scores.get)
    chosen, scored = choose_combination(records, ranked, scores, "mase", "auto", top_k=3)
    by_kind = {(c.kind, len(c.members)): c for c in scored}
    assert set(by_kind) == {("single", 1), ("weighted", 2), ("weighted", 3), ("median", 3)}
    assert by_kind["single", 1].score == pytest.approx(scores[ranked[0]])
    for (kind, _), combination in by_kind.items():  # each score = MASE of the combined forecast, computed directly
        stacked = np.stack([forecasts[m] for m in combination.members])
        guess = np.median(stacked, 0) if kind == "median" else np.tensordot(combination.weights or (1.0,), stacked, 1)
        direct = np.mean([mase(truths[i], guess[i], histories[i], 1) for i in range(4)])
        assert combination.score == pytest.approx(direct, rel=1e-12)
    assert chosen.score == min(c.score for c in scored)
    weights = by_kind["weighted", 3].weights
    assert sum(weights) == pytest.approx(1) and weights[0] > weights[1] > weights[2]  # the better, the heavier
    assert inverse_error_weights([1.0, 3.0]) == pytest.approx((0.75, 0.25))


def test_rows_a_member_lacks_are_left_out_for_every_candidate_and_ties_go_to_fewer_members():
    truths = np.ones((6, 3))
    scales = np.ones(6)
    same = ValidationRecord(np.zeros((6, 3)), truths, scales)
    shorter = ValidationRecord(np.zeros((2, 3)), truths[:2], scales[:2])  # validated on fewer windows
    chosen, scored = choose_combination({"a": same, "b": shorter}, ["a", "b"], {"a": 0.0, "b": 0.0}, "mae", "auto", 3)
    assert [c.score for c in scored] == [0.0, 0.0] and chosen.members == ("a",)  # a tie: the simpler one
    only_best, _ = choose_combination({"a": same, "b": shorter}, ["a", "b"], {"a": 0.0, "b": 0.0}, "mae", None, 3)
    assert only_best.members == ("a",) and only_best.kind == "single"


def test_a_model_validated_on_fewer_windows_is_compared_on_the_windows_it_shares():
    def validated(name, row_errors):  # one series; rows newest window first; MAE per row = the row's error
        errors = np.repeat(np.asarray(row_errors, dtype=float)[:, None], 4, axis=1)
        return Entry(name, name, artefact=ValidationRecord(errors, np.zeros_like(errors), np.ones(len(errors))))

    full = validated("full", [0.5, 1.0, 1.5])  # mean 1.0 over three windows, 0.5 on the newest
    lucky = validated("lucky", [0.8])  # its one (newest) window's 0.8 beats full's mean, not full's 0.5 there
    chosen, reason = choose_like_for_like([full, lucky, validated("worse", [2.0, 2.0, 2.0])], "mae")
    assert chosen is full and reason == "best mae among the 3 that fit"
    better = validated("better", [0.4])  # beats full where both were validated
    chosen, reason = choose_like_for_like([full, lucky, better], "mae")
    assert chosen is better and "full, better compared on the 1 newest validation rows" in reason
    assert choose_like_for_like([validated("a", [0.7, 0.7]), validated("b", [0.5, 1.0])], "mae")[0].name == "a"


@pytest.fixture(scope="module")
def macro_df():
    import statsmodels.api as sm

    data = sm.datasets.macrodata.load_pandas().data
    ds = pd.date_range("1959-01-01", periods=len(data), freq="QS")
    return pd.concat([pd.DataFrame({"unique_id": c, "ds": ds, "y": data[c].to_numpy(dtype=float)})
                      for c in ("realgdp", "realcons", "cpi")])  # fmt: skip


def test_a_weighted_ensemble_forecasts_the_weighted_mean_of_its_members_through_save_and_load(macro_df, tmp_path):
    models = ["Naive", "AutoETS", "AutoTheta"]
    fc = Forecaster(horizon=4, season_length=4, models=models, ensemble="weighted", verbose=False).fit(macro_df)
    board = fc.leaderboard_.set_index("model")
    assert fc.chosen_ == "Ensemble" and set(fc.members_) == set(models)
    expected = inverse_error_weights([board.loc[m, "mase"] for m in fc.members_])
    assert fc.weights_ == pytest.approx(expected) and sum(fc.weights_) == pytest.approx(1)
    singles = {m: Forecaster(horizon=4, season_length=4, models=[m], verbose=False).fit(macro_df).predict()[m]
               for m in fc.members_}  # fmt: skip
    combined = sum(w * singles[m].to_numpy() for m, w in zip(fc.members_, fc.weights_, strict=True))
    np.testing.assert_allclose(fc.predict()["Ensemble"], combined, rtol=1e-9)
    assert "weighted mean of" in board.loc[fc.members_[0], "reason"]
    fc.save(tmp_path / "model")
    loaded = Forecaster.load(tmp_path / "model")
    assert loaded.weights_ == pytest.approx(fc.weights_)
    newer = macro_df.groupby("unique_id").head(150)
    pd.testing.assert_frame_equal(loaded.predict(newer), fc.predict(newer))


def test_auto_chooses_the_combination_that_validated_best_and_says_so(macro_df):
    fc = Forecaster(horizon=4, season_length=4, models=["Naive", "AutoETS", "AutoTheta", "LightGBM"],
                    ensemble="auto", top_k=3, verbose=False).fit(macro_df)  # fmt: skip
    scores = {(c.members, c.weights): c.score for c in fc.combinations_}
    assert len(scores) == 4 and fc.combination_.score == min(scores.values())  # alone, weighted 2 and 3, median 3
    assert fc.members_ == list(fc.combination_.members)
    single = fc.combinations_[0]
    assert single.score == pytest.approx(fc.leaderboard_.set_index("model").loc[single.members[0], "mase"])
    reason = fc.leaderboard_.set_index("model").loc[fc.members_[0], "reason"]
    assert (fc.chosen_ == "Ensemble" and f"vs {single.score:.4g} for {single.members[0]} alone" in reason) or (
        fc.chosen_ == single.members[0] and fc.combination_ is single)  # fmt: skip
    with pytest.raises(ConfigError, match="'ensemble' parameter of Forecaster"):
        Forecaster(horizon=4, ensemble="mean")
