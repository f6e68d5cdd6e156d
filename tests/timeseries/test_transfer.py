"""Transfer for short histories: with ``pretrain=`` related series, each neural model also enters pretrained on
their windows and fine-tuned on the target's, validated like the rest; related series at another frequency are
refused naming the argument."""

import pandas as pd
import pytest

from tightfit.cli import main
from tightfit.errors import DataError
from tightfit.timeseries import Forecaster


def test_pretraining_on_related_series_is_a_measured_variant(elnino_df):
    target = elnino_df.tail(60).assign(unique_id="recent")  # five years: short for a network
    related = elnino_df.head(600).assign(unique_id="past")  # fifty earlier years of the same ocean
    fc = Forecaster(horizon=12, season_length=12, models=["SeasonalNaive", "DLinear"], n_windows=2,
                    verbose=False).fit(target, pretrain=related)  # fmt: skip
    board = fc.leaderboard_.set_index("model")
    assert list(board.index) == ["SeasonalNaive", "DLinear", "DLinear+pretrained"]
    assert board.loc["DLinear+pretrained", "windows"] == board.loc["DLinear", "windows"] == 2  # the same windows
    # measured: 0.91 pretrained vs 1.18 from scratch (validation MASE, 2 windows of 12 months)
    assert board.loc["DLinear+pretrained", "mase"] < 0.9 * board.loc["DLinear", "mase"]
    alone = Forecaster(horizon=12, season_length=12, models=["DLinear"], n_windows=2, verbose=False).fit(target)
    assert alone.leaderboard_["mase"].iloc[0] == pytest.approx(board.loc["DLinear", "mase"])  # scratch unchanged


def test_related_series_at_another_frequency_are_refused(elnino_df, tmp_path, capsys):
    quarterly = elnino_df.iloc[::3].assign(ds=pd.date_range("1950-01-01", periods=244, freq="QS"))
    with pytest.raises(DataError, match="pretrain has frequency 'QS-JAN', df has 'MS'"):
        Forecaster(horizon=6, models=["DLinear"], verbose=False).fit(elnino_df, pretrain=quarterly)
    with pytest.raises(DataError, match="pretrain: df lacks the column"):
        Forecaster(horizon=6, models=["DLinear"], verbose=False).fit(elnino_df, pretrain=quarterly.drop(columns="y"))
    data, related = tmp_path / "elnino.csv", tmp_path / "related.csv"
    elnino_df.to_csv(data, index=False)
    quarterly.to_csv(related, index=False)
    assert main(["forecast", str(data), "--horizon", "6", "--pretrain", str(related), "--quiet"]) == 2
    assert "pretrain has frequency" in capsys.readouterr().err
