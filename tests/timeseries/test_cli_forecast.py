"""`tightfit forecast series.csv --horizon --season --time`: prints the leaderboard, writes forecasts, the
leaderboard and a plot; a malformed file is a named error."""

import numpy as np
import pandas as pd

from tightfit.cli import main


def test_forecast_cli_writes_forecasts_and_plot(elnino_df, tmp_path, capsys):
    path = tmp_path / "elnino.csv"
    elnino_df.to_csv(path, index=False)
    out = tmp_path / "run"
    code = main(["forecast", str(path), "--horizon", "6", "--season", "12", "--time", "1min",
                 "--models", "SeasonalNaive,Naive,AutoETS", "--windows", "2",
                 "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "AutoETS" in printed and "chosen:" in printed
    forecasts = pd.read_csv(out / "forecasts.csv")
    chosen = printed.split("chosen: ")[1].split(";")[0]
    assert len(forecasts) == 6 and {chosen, f"{chosen}-lo-95", f"{chosen}-hi-95"} <= set(forecasts.columns)
    assert len(pd.read_csv(out / "leaderboard.csv")) == 3
    assert (out / "forecast.png").stat().st_size > 10_000
    page = (out / "report.html").read_text()
    assert "time=1min" in page and "data:image/png;base64," in page and "forecasts.csv" in page


def test_forecast_cli_names_a_missing_column(elnino_df, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    elnino_df.drop(columns="y").to_csv(path, index=False)
    assert main(["forecast", str(path), "--horizon", "6"]) == 2
    assert "lacks the column(s) ['y']" in capsys.readouterr().err


def test_forecast_cli_forecasts_the_statistical_mean_by_default_and_the_best_alone_on_request(nile_df, tmp_path,
                                                                                              capsys):  # fmt: skip
    path = tmp_path / "nile.csv"
    nile_df.to_csv(path, index=False)
    chosen = {}
    for ensemble in ("statistical", "best"):
        out = tmp_path / ensemble
        code = main(["forecast", str(path), "--horizon", "10", "--models", "Naive,AutoETS,AutoTheta", "--windows", "2",
                     "--ensemble", ensemble, "--out", str(out), "--quiet"])  # fmt: skip
        assert code == 0
        chosen[ensemble] = capsys.readouterr().out.split("chosen: ")[1].split(";")[0]
        board = pd.read_csv(out / "leaderboard.csv").set_index("model")
        assert {chosen[ensemble].split(" ")[0]} <= set(pd.read_csv(out / "forecasts.csv").columns)
    assert chosen["statistical"] == "Ensemble (equal mean of AutoETS, AutoTheta)"
    best = board["mase"].idxmin()
    assert chosen["best"] == best and board.loc[best, "verdict"] == "chosen"


def test_forecast_cli_takes_the_users_column_names_and_a_year_and_month_panel(elnino_df, tmp_path, capsys):
    """A long table as people keep it: 'city', 'year', 'month', 'sales', one city with too many gaps."""
    calendar = {"year": elnino_df["ds"].dt.year.to_numpy(), "month": elnino_df["ds"].dt.month.to_numpy()}
    gappy = elnino_df["y"].to_numpy() + 5.0
    gappy[np.arange(len(gappy)) % 3 == 0] = np.nan  # a third of 'Bryan' missing: more than gaps
    panel = pd.concat([pd.DataFrame({"city": "Abilene", **calendar, "sales": elnino_df["y"].to_numpy()}),
                       pd.DataFrame({"city": "Bryan", **calendar, "sales": gappy})])  # fmt: skip
    path = tmp_path / "panel.csv"
    panel.to_csv(path, index=False)
    out = tmp_path / "run"
    code = main(["forecast", str(path), "--id", "city", "--target", "sales", "--horizon", "6", "--models", "Naive",
                 "--windows", "1", "--out", str(out), "--quiet"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "built the dates from 'year' and 'month'" in printed
    assert "left out 1 series missing more than 20% of their values ('Bryan')" in printed
    forecasts = pd.read_csv(out / "forecasts.csv", parse_dates=["ds"])
    assert list(forecasts.columns[:3]) == ["city", "ds", "Naive"] and set(forecasts["city"]) == {"Abilene"}
    assert forecasts["ds"].iloc[0] == elnino_df["ds"].iloc[-1] + pd.DateOffset(months=1)
    assert main(["forecast", str(path), "--id", "town", "--horizon", "6"]) == 2
    assert "--id 'town' is not a column of" in capsys.readouterr().err
