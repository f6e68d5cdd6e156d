"""Chronos-Bolt in the Forecaster, offline: a tiny checkpoint with random weights in the library's own format
(``save_pretrained`` of chronos-forecasting's model class) runs validation, forecasts with quantile intervals
over many series in one batch, saving and loading, and the deadline's refusal; a folder that is not a Chronos
checkpoint is refused where it is typed."""

import json

import numpy as np
import pandas as pd
import pytest

from tightfit.cli import main
from tightfit.errors import ConfigError
from tightfit.timeseries import Forecaster

pytest.importorskip("chronos")


@pytest.fixture(scope="module")
def chronos_path(tmp_path_factory):
    import torch
    from chronos.chronos_bolt import ChronosBoltModelForForecasting
    from transformers import T5Config

    torch.manual_seed(0)
    config = T5Config(
        d_model=32, d_ff=64, d_kv=16, num_heads=2, num_layers=1, num_decoder_layers=1, vocab_size=1,
        dense_act_fn="relu", feed_forward_proj="relu", is_encoder_decoder=True, pad_token_id=0,
        decoder_start_token_id=0, chronos_pipeline_class="ChronosBoltPipeline",
        chronos_config={"context_length": 64, "prediction_length": 16, "input_patch_size": 8,
                        "input_patch_stride": 8, "quantiles": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
                        "use_reg_token": True},
        architectures=["ChronosBoltModelForForecasting"],
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("chronos") / "tiny-chronos-bolt"
    ChronosBoltModelForForecasting(config).save_pretrained(folder)
    return str(folder)


def many_series(n: int = 12, length: int = 80) -> pd.DataFrame:
    """``n`` seasonal series with different levels (monthly)."""
    rng = np.random.default_rng(0)
    t = np.arange(length)
    frames = [
        pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("2000-01-01", periods=length, freq="MS"),
                      "y": 10 * (i + 1) + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, length)})
        for i in range(n)
    ]  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def test_chronos_bolt_validates_forecasts_quantiles_and_saves(chronos_path, tmp_path, monkeypatch):
    from chronos import ChronosBoltPipeline

    calls = []
    predict = ChronosBoltPipeline.predict_quantiles

    def counted(self, inputs, **options):
        calls.append(len(inputs))
        return predict(self, inputs, **options)

    monkeypatch.setattr(ChronosBoltPipeline, "predict_quantiles", counted)
    frame = many_series()
    fc = Forecaster(horizon=6, season_length=12, models=["SeasonalNaive", "ChronosBolt"], chronos_path=chronos_path,
                    n_windows=2, level=(80,), verbose=False, executor="inline").fit(frame)  # fmt: skip
    row = fc.leaderboard_.set_index("model").loc["ChronosBolt"]
    assert row["verdict"] in ("fits", "chosen") and np.isfinite(row["mase"]) and row["mase"] > 0
    assert calls and all(n == 12 for n in calls)  # every series of a window in one call: batched, not a loop
    fitted = Forecaster(horizon=6, season_length=12, models=["ChronosBolt"], chronos_path=chronos_path,
                        n_windows=1, level=(80,), verbose=False, executor="inline").fit(frame)  # fmt: skip
    out = fitted.predict()
    assert len(out) == 12 * 6 and set(out["unique_id"]) == set(frame["unique_id"])
    lo, mid, hi = (out[f"ChronosBolt{suffix}"].to_numpy() for suffix in ("-lo-80", "", "-hi-80"))
    # random weights predict crossing quantiles: they are sorted per step, so intervals never cross
    assert np.all(lo <= mid) and np.all(mid <= hi) and np.all(hi > lo)
    for uid in ("s0", "s7"):  # the batch keeps each series' own forecast: alone, a series gets the same one
        alone = fitted.predict(frame[frame["unique_id"] == uid])
        np.testing.assert_allclose(alone["ChronosBolt"], out.loc[out["unique_id"] == uid, "ChronosBolt"], rtol=1e-4)
    fitted.save(tmp_path / "model")
    loaded = Forecaster.load(tmp_path / "model")
    pd.testing.assert_frame_equal(loaded.predict(), out)


def test_the_deadline_stops_chronos_like_any_model(chronos_path, nile_df):
    class PassesDuringValidation:  # deterministic, unlike a clock
        seconds = 5.0

        def __init__(self) -> None:
            self.asked = 0

        def left(self) -> float:
            self.asked += 1
            return 5.0 if self.asked <= 2 else 0.0

        def elapsed(self) -> float:
            return 5.0

    fc = Forecaster(horizon=5, models=["Naive", "ChronosBolt"], chronos_path=chronos_path, verbose=False,
                    executor="inline")  # fmt: skip
    fc.fit(nile_df, deadline=PassesDuringValidation())
    board = fc.leaderboard_.set_index("model")
    chronos = board.loc["ChronosBolt"]  # validated in the time there was, then refused: its final fit cannot fit
    assert chronos["verdict"] == "over_limit" and "its final fit need" in chronos["reason"]
    assert "0.0s left" in chronos["reason"]
    assert fc.chosen_ == "Naive" and len(fc.predict()) == 5


def test_a_folder_that_is_not_a_chronos_checkpoint_is_refused_where_typed(tmp_path, elnino_df):
    with pytest.raises(ConfigError, match=r"'chronos_path' parameter of Forecaster must be a Chronos-Bolt checkpoint"):
        Forecaster(horizon=6, chronos_path=str(tmp_path / "missing"))
    other = tmp_path / "bert"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 32}))
    with pytest.raises(ConfigError, match="no chronos_config: another model's"):
        Forecaster(horizon=6, chronos_path=str(other))
    data = tmp_path / "elnino.csv"
    elnino_df.to_csv(data, index=False)
    assert main(["forecast", str(data), "--horizon", "6", "--chronos", str(other), "--quiet"]) == 2


def test_forecast_cli_takes_a_chronos_checkpoint(chronos_path, tmp_path, elnino_df, capsys):
    data = tmp_path / "elnino.csv"
    elnino_df.tail(120).to_csv(data, index=False)
    code = main(["forecast", str(data), "--horizon", "6", "--season", "12", "--models", "Naive,ChronosBolt",
                 "--chronos", chronos_path, "--windows", "1", "--out", str(tmp_path / "run"), "--quiet"])  # fmt: skip
    assert code == 0
    board = pd.read_csv(tmp_path / "run" / "leaderboard.csv").set_index("model")
    assert board.loc["ChronosBolt", "verdict"] in ("fits", "chosen") and np.isfinite(board.loc["ChronosBolt", "mase"])
