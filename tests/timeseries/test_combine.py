"""Forecast combinations: scored exactly from each model's stored validation errors, chosen by that score, and
used by the Forecaster (weighted mean or median of its members), through save and load."""

import math

import numpy as np
import pandas as pd
import pytest

from tightfit.errors import ConfigError
from tightfit.search import Entry
from tightfit.timeseries import Forecaster, mase
from tightfit.timeseries.combine import (
    SHORT_HISTORY,
    SHORT_PRIOR,
    STATISTICAL,
    ValidationRecord,
    choose_combination,
    choose_like_for_like,
    choose_statistical,
    combine_records,
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


def row_records(row_errors: dict[str, list[float]]) -> dict[str, ValidationRecord]:
    """One record per model whose MAE on each row (series x window, 3 steps) is that row's given error."""

    def record(errors):
        errors = np.repeat(np.asarray(errors, dtype=float)[:, None], 3, axis=1)
        return ValidationRecord(errors, np.zeros_like(errors), np.ones(len(errors)))

    return {name: record(errors) for name, errors in row_errors.items()}


def test_the_statistical_mean_stays_unless_a_model_beats_it_clearly_on_every_validation_row():
    prior_rows = [1.0, 1.0, 1.0, 1.0]  # each statistical model, and so their mean, misses by 1 on every row
    lucky = [0.2, 1.3, 0.3, 1.4]  # mean 0.80 < 1.0, but it wins 2 rows and loses 2: within 2 standard errors
    records = row_records({m: prior_rows for m in STATISTICAL} | {"lucky": lucky})
    chosen, (alone, prior) = choose_statistical(records, "lucky", "mae")
    assert chosen is prior and prior.members == STATISTICAL and prior.weights == pytest.approx((1 / 3,) * 3)
    assert prior.score == pytest.approx(1.0) and alone.score == pytest.approx(0.8) and alone.members == ("lucky",)
    steady = [0.5, 0.6, 0.5, 0.6]  # better on every row: 0.45 +- 0.03
    chosen, _ = choose_statistical(row_records({m: prior_rows for m in STATISTICAL} | {"steady": steady}), "steady",
                                   "mae")  # fmt: skip
    assert chosen.members == ("steady",) and chosen.kind == "single"
    # the mean's score is that of the averaged forecast: errors +1 and -1 cancel
    signed = row_records({"AutoETS": [1.0, 1.0], "AutoTheta": [-1.0, -1.0], "lucky": [0.5, 0.6]})
    chosen, (_, prior) = choose_statistical(signed, "lucky", "mae")
    assert prior.members == ("AutoETS", "AutoTheta") and prior.score == 0.0 and chosen is prior
    one_row = row_records({m: [1.0] for m in STATISTICAL} | {"steady": [0.1]})
    assert choose_statistical(one_row, "steady", "mae")[0].members == STATISTICAL  # one row: no spread to judge by
    alone, only = choose_statistical(row_records({"AutoETS": [1.0], "lucky": [0.5]}), "lucky", "mae")
    assert alone.members == ("lucky",) and only == [alone]  # one statistical model validated: no mean to keep
    chosen, _ = choose_combination(records, ["lucky", *STATISTICAL], {}, "mae", "statistical", 3)
    assert chosen.members == STATISTICAL


def test_on_series_of_at_most_50_points_the_prior_is_autoarima_alone(nile_df):
    records = row_records({m: [1.0, 1.0, 1.0, 1.0] for m in STATISTICAL} | {"lucky": [0.2, 1.3, 0.3, 1.4]})
    for history, prior in ((50, SHORT_PRIOR), (51, STATISTICAL), (None, STATISTICAL)):
        chosen, (_, kept) = choose_statistical(records, "lucky", "mae", history)
        assert chosen is kept and kept.members == prior
    assert SHORT_PRIOR == ("AutoARIMA",) and SHORT_HISTORY == 50
    steady = row_records({"AutoARIMA": [1.0] * 4, "steady": [0.5, 0.6, 0.5, 0.6]})
    assert choose_statistical(steady, "steady", "mae", 40)[0].members == ("steady",)  # clearly better still wins
    assert choose_statistical(row_records({"AutoETS": [1.0], "lucky": [0.5]}), "lucky", "mae", 40)[0].members == (
        "lucky",)  # the prior's model did not validate: the best alone  # fmt: skip
    fc = Forecaster(horizon=10, models=["AutoETS", "AutoARIMA"], verbose=False).fit(nile_df.iloc[-40:])
    assert fc.chosen_ == "AutoARIMA" and fc.members_ == ["AutoARIMA"] and fc.weights_ == (1.0,)
    board = fc.leaderboard_.set_index("model")
    assert board.loc["AutoARIMA", "verdict"] == "chosen" and board["member"].sum() == 1
    assert board.loc["AutoARIMA", "reason"].startswith("the prior for series of at most 50 points (validation mase")
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA

    alone = StatsForecast([AutoARIMA()], freq=1).fit(nile_df.iloc[-40:]).predict(h=10)
    np.testing.assert_allclose(fc.predict()["AutoARIMA"], alone["AutoARIMA"], rtol=1e-9)


def test_by_default_the_forecast_is_the_equal_mean_of_the_statistical_models(nile_df, tmp_path):
    fc = Forecaster(horizon=10, models=["Naive", *STATISTICAL], verbose=False).fit(nile_df)
    assert fc.ensemble == "statistical" and fc.chosen_ == "Ensemble" and fc.members_ == list(STATISTICAL)
    assert fc.weights_ == pytest.approx((1 / 3,) * 3)
    singles = {m: Forecaster(horizon=10, models=[m], verbose=False).fit(nile_df) for m in STATISTICAL}
    means = {m: single.predict()[m] for m, single in singles.items()}
    np.testing.assert_allclose(fc.predict()["Ensemble"], np.mean([means[m] for m in STATISTICAL], 0), rtol=1e-9)
    board = fc.leaderboard_.set_index("model")
    assert list(board.index[board["verdict"] == "chosen"]) == ["AutoETS"] and board["member"].sum() == 3
    alone, prior = fc.combinations_
    assert "the forecast is the equal mean of AutoETS, AutoTheta, AutoARIMA" in board.loc["AutoETS", "reason"]
    assert f"{prior.score:.4g} vs {alone.score:.4g} for {alone.members[0]} alone" in board.loc["AutoETS", "reason"]
    assert alone.score == pytest.approx(board["mase"].min()) and alone.score < prior.score  # one lucky model
    # one interval for the one forecast: the mean of the members' own bounds, scaled by the conformal rank of the
    # reaches of the mean's validation truths (not each member by its own misses: their mean errs less)
    errors = np.mean([fc.cv_[m].errors for m in STATISTICAL], 0)
    halves = [np.mean([fc.cv_[m].halves["80"][side] for m in STATISTICAL], 0) for side in (0, 1)]
    reaches = np.abs(errors) / np.where(errors >= 0, halves[1], halves[0])
    scale = max(1.0, np.sort(reaches.ravel())[math.ceil((reaches.size + 1) * 0.8) - 1])
    assert set(fc.interval_scales_) == {"Ensemble"} and fc.interval_scales_["Ensemble"]["80"] == pytest.approx(scale)
    for side in ("hi", "lo"):  # each single model's bound, its own scale undone
        own = [(f.predict()[f"{m}-{side}-80"] - means[m]) / f.interval_scales_[m]["80"] for m, f in singles.items()]
        expected = fc.predict()["Ensemble"] + scale * np.mean(own, 0)
        np.testing.assert_allclose(fc.predict()[f"Ensemble-{side}-80"], expected, rtol=1e-9)
    fc.save(tmp_path / "model")
    pd.testing.assert_frame_equal(Forecaster.load(tmp_path / "model").predict(nile_df), fc.predict(nile_df))


def test_a_combined_record_holds_the_combined_forecasts_errors_and_half_widths_on_the_shared_rows():
    truths = np.arange(12.0).reshape(4, 3)
    halves = {"80": (np.ones((4, 3)), 3 * np.ones((4, 3)))}
    a = ValidationRecord(np.ones((4, 3)), truths, np.ones(4), halves)
    b = ValidationRecord(-3 * np.ones((2, 3)), truths[:2], np.ones(2), {"80": (np.full((2, 3), 5.0), np.ones((2, 3)))})
    combined = combine_records({"a": a, "b": b}, ["a", "b"], (0.75, 0.25))
    assert len(combined) == 2  # b was validated on the 2 newest windows only
    np.testing.assert_allclose(combined.errors, 0.0)  # 0.75 * 1 + 0.25 * -3
    np.testing.assert_allclose(combined.halves["80"][0], 2.0)  # below: 0.75 * 1 + 0.25 * 5
    np.testing.assert_allclose(combined.halves["80"][1], 2.5)  # above: 0.75 * 3 + 0.25 * 1
    np.testing.assert_array_equal(combined.truths, truths[:2])
    np.testing.assert_allclose(a.reaches["80"], 1 / 3)  # truths above the forecast by 1, 3 above: 1/3 of the way


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


def test_a_model_chosen_over_the_statistical_mean_says_by_how_much():
    """fpp3's us_gasoline chose AutoTheta over the mean with the leaderboard's generic "best mase among the 9 that
    fit": the user could not tell the mean had been weighed. A repeated pattern (two series, 60 months) where one
    member errs wildly makes the mean lose clearly."""
    rng = np.random.default_rng(0)
    pattern = np.array([5, 9, 2, 7, 3, 8, 1, 6, 4, 10, 0, 5], float)
    df = pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("2010-01-01", periods=60, freq="MS"),
                                  "y": np.tile(pattern * (i + 1), 5) + 20 * i + rng.normal(0, 0.01, 60)})
                    for i in range(2)])  # fmt: skip
    fc = Forecaster(horizon=12, models=["SeasonalNaive", "AutoETS", "AutoTheta", "AutoARIMA"], verbose=False).fit(df)
    alone, prior = fc.combinations_
    assert fc.combination_ is alone and fc.chosen_ == alone.members[0] and alone.score < prior.score
    reason = fc.leaderboard_.set_index("model").loc[fc.chosen_, "reason"]
    assert reason == (f"clearly better than the equal mean of AutoETS, AutoTheta, AutoARIMA: validation mase "
                      f"{alone.score:.4g} vs {prior.score:.4g}, better by more than 2 standard errors of the "
                      "per-window differences")  # fmt: skip
