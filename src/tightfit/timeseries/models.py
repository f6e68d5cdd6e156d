"""The forecasting model stack, cheapest first. Every model has one call shape:

``model.fit(frame, h, freq, season_length, level, seed, time_s)`` returns a fitted model whose
``predict(history, freq, level)`` forecasts the ``h`` steps after each series of ``history`` as a DataFrame with
columns ``unique_id, ds, mean`` and, when the model makes its own intervals, ``lo-80, hi-80, ...``;
``model.forecast(...)`` does both on one frame. ``history`` may be newer than the fit: statistical models
apply their fitted parameters to it (statsforecast's ``forward``; a series the fit never saw is fitted on its
own), LightGBM and the neural models read its last points, Chronos-Bolt is zero-shot. Statistical models come
from statsforecast; LightGBM forecasts recursively through mlforecast (lags, rolling means, calendar features);
DLinear and a small N-HiTS are torch modules trained through tightfit's engine (so its precision, early stopping and
time budget apply); Chronos-Bolt runs from a local checkpoint through the ``chronos-forecasting`` package.

Fitted models save into a folder without pickle (:meth:`to_files` / ``FITTED[kind].from_files``):
statsforecast's fitted models through skops (only their own types trusted), LightGBM's booster as its text
model, network weights as safetensors, the rest as JSON.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tightfit.errors import DataError, bad_param
from tightfit.registry import Registry
from tightfit.timeseries.augment import Augmenter
from tightfit.timeseries.data import next_dates

__all__ = [
    "FITTED",
    "MODELS",
    "STACK",
    "ChronosBolt",
    "FittedChronos",
    "FittedHybrid",
    "FittedLightGBM",
    "FittedNeural",
    "FittedStats",
    "HybridForecaster",
    "LightGBMLags",
    "NeuralForecaster",
    "StatsModel",
    "model_stack",
    "series_values",
]


def _future(frame: pd.DataFrame, h: int, freq: str | int) -> pd.DataFrame:
    """unique_id and ds of the ``h`` steps after each series' end."""
    rows = [
        pd.DataFrame({"unique_id": uid, "ds": next_dates(group["ds"].iloc[-1], freq, h)})
        for uid, group in frame.groupby("unique_id", sort=False)
    ]
    return pd.concat(rows, ignore_index=True)


class _FitThenPredict:
    """``forecast``: fit on ``frame`` and forecast the steps after it (one validation window, one final fit)."""

    def forecast(self, frame, h, freq, season_length, level, seed, time_s) -> pd.DataFrame:
        return self.fit(frame, h, freq, season_length, level, seed, time_s).predict(frame, freq, level)


def series_values(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each series' ``y`` as floats, by ``unique_id``, in the frame's order."""
    return {uid: g["y"].to_numpy(dtype=float) for uid, g in frame.groupby("unique_id", sort=False)}


# statsforecast types a saved statistical model holds: the models and their optimiser's result record
STATS_TYPES = ["statsforecast.utils.results"]


MAX_STATE_SPACE_SEASON = 24  # statsforecast's ETS keeps at most 24 seasonal states


@dataclasses.dataclass
class StatsModel(_FitThenPredict):
    """A statsforecast model (``SeasonalNaive``, ``Naive``, ``AutoETS``, ``AutoTheta``, ``AutoARIMA``)."""

    name: str
    seasonal: bool = True  # uses season_length (False: the naive forecast)
    kind: str = "statistical"
    n_jobs: int = 1  # statsforecast's worker processes: the series are split among them
    per_series_search: bool = True  # a model search per series, worth a pool (False: the naive ones, ~1 ms)

    def fit(self, frame, h, freq, season_length, level, seed, time_s) -> FittedStats:
        from statsforecast import StatsForecast

        if not self.per_series_search:  # the naive models hold no parameters: the history is all they need
            return FittedStats(self.name, self.seasonal, season_length, h, {}, stateless=True)
        model = FittedStats.blank(self.name, self.seasonal, season_length)
        n_jobs = min(self.n_jobs, frame["unique_id"].nunique())
        fitted = StatsForecast(models=[model], freq=freq, n_jobs=n_jobs).fit(df=frame[["unique_id", "ds", "y"]])
        per_series = dict(zip(map(str, fitted.uids), fitted.fitted_[:, 0], strict=True))
        return FittedStats(self.name, self.seasonal, season_length, h, per_series)


@dataclasses.dataclass
class FittedStats:
    """One fitted statsforecast model per series; a series the fit never saw is fitted on its own history
    (``unseen`` names them). ``stateless`` (the naive models): nothing is kept, every history is its own fit."""

    name: str
    seasonal: bool
    season_length: int
    h: int
    per_series: dict[str, Any]
    stateless: bool = False
    kind: str = "statistical"

    @staticmethod
    def blank(name: str, seasonal: bool, season_length: int) -> Any:
        """A statsforecast model. Above ``MAX_STATE_SPACE_SEASON`` (ETS has no seasonal state there; the seasonal
        ARIMA search took over 160 s on 2,284 weekly points at 52) AutoETS and AutoARIMA fit the series MSTL
        deseasonalised, and MSTL adds the season back: weekly and half-hourly held-out MASE 0.31x (ETS) and 0.44x
        (ARIMA) of the same model fitted with no season (README)."""
        from statsforecast import models

        cls = getattr(models, name)
        if name in ("AutoETS", "AutoARIMA") and season_length > MAX_STATE_SPACE_SEASON:
            trend = cls(model="ZZN") if name == "AutoETS" else cls(season_length=1)
            return models.MSTL(season_length=season_length, trend_forecaster=trend, alias=name)
        return cls(season_length=season_length) if seasonal else cls()

    def unseen(self, history: pd.DataFrame) -> list[str]:
        return [] if self.stateless else [u for u in history["unique_id"].unique() if u not in self.per_series]

    def predict(self, history, freq, level) -> pd.DataFrame:
        return self._forecast(history, freq, self._forward(history, level, fitted=False))

    def residuals(self, history: pd.DataFrame) -> pd.DataFrame:
        """``history`` with ``y`` replaced by each series' in-sample one-step errors (``y - fitted``; 0 where the
        model has no fitted value yet), from the fitted parameters (statsforecast's ``forward``)."""
        return self._residuals(history, self._forward(history, (), fitted=True))

    def forecast_and_residuals(self, history, freq, level) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``predict`` and ``residuals`` from one ``forward`` per series (the hybrid needs both)."""
        outputs = self._forward(history, level, fitted=True)
        return self._forecast(history, freq, outputs), self._residuals(history, outputs)

    def _forward(self, history, level, fitted: bool) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """Per series of ``history``: its values and statsforecast's ``forward`` from the fitted parameters (a
        series the fit never saw is fitted on its own history first)."""
        outputs = []
        for uid, y in series_values(history).items():
            model = self.per_series.get(uid)
            if model is None:
                model = self.blank(self.name, self.seasonal, self.season_length).fit(y)
            outputs.append((y, model.forward(y=y, h=self.h, level=list(level), fitted=fitted)))
        return outputs

    def _forecast(self, history, freq, outputs) -> pd.DataFrame:
        keys = [key for key in outputs[0][1] if not key.startswith("fitted")]
        return _future(history, self.h, freq).assign(**{key: np.concatenate([o[key] for _, o in outputs])
                                                        for key in keys})  # fmt: skip

    @staticmethod
    def _residuals(history, outputs) -> pd.DataFrame:
        errors = [np.nan_to_num(y - out["fitted"]) for y, out in outputs]
        return history[["unique_id", "ds"]].assign(y=np.concatenate(errors))

    def to_files(self, folder: Path, stem: str) -> dict[str, Any]:
        from tightfit.artefacts import save_skops

        entry = {"seasonal": self.seasonal, "season_length": self.season_length, "stateless": self.stateless}
        if self.stateless:
            return entry
        save_skops(folder / f"{stem}.skops", {uid: _storable(model) for uid, model in self.per_series.items()})
        return entry | {"file": f"{stem}.skops"}

    @classmethod
    def from_files(cls, folder: Path, entry: dict[str, Any]) -> FittedStats:
        from tightfit.artefacts import load_skops

        if entry["stateless"]:
            return cls(entry["name"], entry["seasonal"], entry["season_length"], entry["h"], {}, stateless=True)
        trusted = [*STATS_TYPES, f"statsforecast.models.{entry['name']}", "statsforecast.models.MSTL"]
        per_series = load_skops(folder / entry["file"], trusted=trusted)
        return cls(entry["name"], entry["seasonal"], entry["season_length"], entry["h"], per_series)


def _storable(model: Any) -> Any:
    """``model`` as skops can write it: an MSTL without its training decomposition (a pandas frame skops cannot
    write), which ``forward`` never reads: it decomposes each history it forecasts afresh."""
    if type(model).__name__ != "MSTL":
        return model
    stored = copy.copy(model)
    del stored.model_
    return stored


_CALENDAR = ["month", "quarter", "dayofweek", "hour", "dayofyear"]  # date features of a datetime ds


def _lags(season_length: int, shortest: int, h: int) -> list[int]:
    """Lags 1-7 and one and two seasons, as many as the shortest series leaves room for."""
    wanted = sorted({*range(1, 8), season_length, 2 * season_length})
    return [lag for lag in wanted if lag <= max(1, shortest - h - 4)]


def _mlforecast(model: Any, freq: str | int, lags: list[int], season_length: int, calendar: bool) -> Any:
    """mlforecast's recursive forecaster: the lags, rolling means of the last 3 points and of the last season,
    calendar features."""
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean

    return MLForecast(models={"mean": model}, freq=freq, lags=lags,
                      lag_transforms={1: [RollingMean(window_size=3), RollingMean(window_size=max(season_length, 2))]},
                      date_features=_CALENDAR if calendar else [], num_threads=1)  # fmt: skip


def _scaled(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """``unique_id, ds, y`` with each series divided by its mean absolute value (1 for an all-zero one), and that
    scale per series. Scale only, no centring: mlforecast's local scalers centre each series, and then a flat
    series looks like the flat stretch of an intermittent one (measured: a constant 5 forecast up to 8.9 beside a
    0/1 step series)."""
    scales = frame.groupby("unique_id", sort=False)["y"].agg(lambda y: np.mean(np.abs(y)))
    scales = scales.where(scales > 0, 1.0)
    return frame[["unique_id", "ds", "y"]].assign(y=frame["y"] / frame["unique_id"].map(scales)), scales


class _Booster:
    """A LightGBM booster behind ``predict`` (what mlforecast calls): a saved model needs no refit to forecast."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict(self, X: Any) -> np.ndarray:
        return self.booster.predict(X)


@dataclasses.dataclass
class LightGBMLags(_FitThenPredict):
    """Gradient boosting on lags, rolling means and calendar features through ``mlforecast``: one model across
    series, each series divided by its mean absolute value, forecasting step by step (recursive)."""

    name: str = "LightGBM"
    kind: str = "ml"

    def fit(self, frame, h, freq, season_length, level, seed, time_s) -> FittedLightGBM:
        from lightgbm import LGBMRegressor

        lags = _lags(season_length, int(frame.groupby("unique_id").size().min()), h)
        calendar = pd.api.types.is_datetime64_any_dtype(frame["ds"])
        model = LGBMRegressor(n_estimators=300, learning_rate=0.05, num_leaves=31, min_child_samples=5,
                              random_state=seed, verbose=-1, n_jobs=1)  # fmt: skip
        forecaster = _mlforecast(model, freq, lags, season_length, calendar).fit(_scaled(frame)[0], static_features=[])
        return FittedLightGBM(forecaster.models_["mean"].booster_, lags, season_length, h, calendar)


@dataclasses.dataclass
class FittedLightGBM:
    """The booster of :class:`LightGBMLags`; ``predict`` rebuilds mlforecast's features from the history given
    (which may be newer than the fit) and steps every series forward together."""

    booster: Any
    lags: list[int]
    season_length: int
    h: int
    calendar: bool
    name: str = "LightGBM"
    kind: str = "ml"

    def predict(self, history, freq, level) -> pd.DataFrame:
        forecaster = _mlforecast(None, freq, self.lags, self.season_length, self.calendar)
        scaled, scales = _scaled(history)
        forecaster.preprocess(scaled, static_features=[])  # the history's own state: its lags and rolling means
        forecaster.models_ = {"mean": _Booster(self.booster)}
        predicted = forecaster.predict(self.h)
        predicted["mean"] *= predicted["unique_id"].map(scales).to_numpy()
        return _future(history, self.h, freq).merge(predicted, on=["unique_id", "ds"], how="left")

    def to_files(self, folder: Path, stem: str) -> dict[str, Any]:
        from tightfit.files import atomic_write_text

        atomic_write_text(folder / f"{stem}.txt", self.booster.model_to_string())
        return {"lags": self.lags, "season_length": self.season_length, "calendar": self.calendar,
                "file": f"{stem}.txt"}  # fmt: skip

    @classmethod
    def from_files(cls, folder: Path, entry: dict[str, Any]) -> FittedLightGBM:
        import lightgbm

        path = folder / entry["file"]
        try:
            booster = lightgbm.Booster(model_str=path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"{path} does not exist; was the forecaster saved completely?") from None
        except (lightgbm.basic.LightGBMError, UnicodeDecodeError) as exc:
            raise DataError(f"{path} is not a readable LightGBM model ({exc}); it is truncated or corrupted.") from None
        return cls(booster, list(entry["lags"]), entry["season_length"], entry["h"], entry["calendar"])


@dataclasses.dataclass
class NeuralForecaster(_FitThenPredict):
    """DLinear or a small N-HiTS trained through tightfit's engine on windows from every series (global),
    each window normalised by its own mean and std; augmented copies of the windows when asked. With
    ``pretrain`` (a long frame of related series), the network first learns from their windows, then is
    fine-tuned on the target's at a third of the learning rate (transfer for short histories)."""

    name: str  # "DLinear" | "NHITS", "+pretrained" appended for the transfer variant
    kind: str = "neural"
    epochs: int = 30
    augment: Augmenter | None = None
    device: str = "cpu"  # the Forecaster's Budget.device ("auto" takes CUDA when torch sees it)
    pretrain: pd.DataFrame | None = dataclasses.field(default=None, repr=False)

    def fit(self, frame, h, freq, season_length, level, seed, time_s) -> FittedNeural:
        import torch

        series = list(series_values(frame).values())
        shortest = min(len(s) for s in series)
        lookback = int(min(max(2 * h, 2 * season_length, 16), max(shortest - h, 4)))
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        net = FittedNeural.network(self.name, lookback, h)
        lr = 3e-3 if self.name.startswith("DLinear") else 1e-3
        if self.pretrain is not None:
            related = _windows(series_values(self.pretrain).values(), lookback, h)
            if len(related) > PRETRAIN_WINDOWS:  # a sample keeps pretraining's cost bounded on many series
                related = related[rng.choice(len(related), PRETRAIN_WINDOWS, replace=False)]
            self._train(net, related, lookback, rng, lr, seed, None if time_s is None else time_s / 2)
            lr, time_s = lr / 3, None if time_s is None else time_s / 2
        windows = _windows(series, lookback, h)
        if self.augment is not None and self.augment.active:
            windows = np.concatenate([windows, self.augment(windows, rng)])
        self._train(net, windows, lookback, rng, lr, seed, time_s)
        where = str(next(net.parameters()).device)  # the engine put the network on the budget's device
        return FittedNeural(self.name, lookback, h, {k: v.detach().cpu() for k, v in net.state_dict().items()}, where)

    def _train(self, net, windows: np.ndarray, lookback: int, rng, lr: float, seed: int, time_s) -> None:
        """Train ``net`` through the engine on ``windows`` (each normalised by its lookback's mean and std; a tenth
        held out for early stopping when there are 20 or more)."""
        import torch

        from tightfit.budget import Budget
        from tightfit.train import EarlyStop, TrainConfig, Trainer

        mean = windows[:, :lookback].mean(axis=1, keepdims=True)
        std = windows[:, :lookback].std(axis=1, keepdims=True) + 1e-5
        normed = torch.tensor((windows - mean) / std, dtype=torch.float32)
        normed = normed[torch.tensor(rng.permutation(len(normed)))]
        n_val = max(1, len(normed) // 10) if len(normed) >= 20 else 0
        x, y = normed[:, :lookback], normed[:, lookback:]
        config = TrainConfig(
            epochs=self.epochs, micro_batch=min(64, max(8, len(x) // 8)), lr=lr,
            early_stopping=EarlyStop(patience=4) if n_val else None, verbose=False, seed=seed,
        )  # fmt: skip
        val = (x[:n_val], y[:n_val]) if n_val else None
        Trainer(net, torch.nn.functional.l1_loss, config).fit(
            (x[n_val:], y[n_val:]), val, budget=Budget(time=time_s, device=self.device)
        )


PRETRAIN_WINDOWS = 20_000  # windows of the related series a transfer variant pretrains on, at most


def _windows(series, lookback: int, h: int) -> np.ndarray:
    """Every (lookback + h)-point window of every series long enough to hold one."""
    found = [np.lib.stride_tricks.sliding_window_view(s, lookback + h) for s in series if len(s) >= lookback + h]
    if not found:
        raise DataError(f"no series holds a window of {lookback + h} points (lookback {lookback} + horizon {h})")
    return np.concatenate(found)


@dataclasses.dataclass
class FittedNeural:
    """A trained DLinear or N-HiTS: it forecasts from the last ``lookback`` points of each series (a shorter
    series is padded with its first value: ``short`` names them)."""

    name: str
    lookback: int
    h: int
    weights: dict[str, Any]  # torch tensors on the CPU
    device: str = "cpu"
    kind: str = "neural"

    @staticmethod
    def network(name: str, lookback: int, h: int) -> Any:
        from tightfit.timeseries.networks import DLinear, NHiTS

        return DLinear(lookback, h) if name.startswith("DLinear") else NHiTS(lookback, h)

    def short(self, history: pd.DataFrame) -> list[str]:
        sizes = history.groupby("unique_id", sort=False).size()
        return [str(uid) for uid in sizes.index[sizes < self.lookback]]

    def predict(self, history, freq, level) -> pd.DataFrame:
        import torch

        contexts = np.stack([
            np.pad(s[-self.lookback :], (max(0, self.lookback - len(s)), 0), mode="edge")
            for s in series_values(history).values()
        ])  # fmt: skip
        mean, std = contexts.mean(axis=1, keepdims=True), contexts.std(axis=1, keepdims=True) + 1e-5
        with torch.no_grad():
            normed = torch.tensor((contexts - mean) / std, dtype=torch.float32, device=self.device)
            out = self._built()(normed).cpu().numpy()
        return _future(history, self.h, freq).assign(mean=(out * std + mean).reshape(-1))

    def _built(self) -> Any:
        """The network with its weights, built on first use and kept (a cache: ``__getstate__`` leaves it out)."""
        if not hasattr(self, "_net"):
            net = self.network(self.name, self.lookback, self.h)
            net.load_state_dict(self.weights)
            self._net = net.to(self.device).eval()
        return self._net

    def __getstate__(self) -> dict[str, Any]:  # the built network is a cache: the weights travel
        return {k: v for k, v in self.__dict__.items() if k != "_net"}

    def to_files(self, folder: Path, stem: str) -> dict[str, Any]:
        from tightfit.artefacts import save_arrays

        save_arrays(folder / f"{stem}.safetensors", self.weights)
        return {"lookback": self.lookback, "file": f"{stem}.safetensors"}

    @classmethod
    def from_files(cls, folder: Path, entry: dict[str, Any]) -> FittedNeural:
        from tightfit.artefacts import load_arrays

        path = folder / entry["file"]
        fitted = cls(entry["name"], entry["lookback"], entry["h"], load_arrays(path))
        try:
            fitted._built()  # checks the weights against the architecture now, and keeps the network for predict
        except RuntimeError as exc:
            raise DataError(f"{path} does not hold {fitted.name}'s weights ({exc}).") from None
        return fitted


@dataclasses.dataclass
class HybridForecaster(_FitThenPredict):
    """AutoETS per series, and a small N-HiTS over every series' ETS residuals (the hybrid of the seed's low-data
    table, after Smyl's ES-RNN): the statistical model carries level, trend and season, the network learns what it
    leaves. Forecast = ETS's + the network's residual forecast; ETS's intervals move with it."""

    name: str = "ETS+NHITS"
    kind: str = "hybrid"
    augment: Augmenter | None = None
    device: str = "cpu"
    n_jobs: int = 1

    def fit(self, frame, h, freq, season_length, level, seed, time_s) -> FittedHybrid:
        stats = StatsModel("AutoETS", n_jobs=self.n_jobs).fit(frame, h, freq, season_length, level, seed, time_s)
        neural = NeuralForecaster("NHITS", augment=self.augment, device=self.device)
        residual_net = neural.fit(stats.residuals(frame), h, freq, season_length, level, seed,
                                  None if time_s is None else time_s / 2)  # fmt: skip
        return FittedHybrid(self.name, h, stats, residual_net)


@dataclasses.dataclass
class FittedHybrid:
    """A fitted ``HybridForecaster``: the per-series ETS models and the residual network."""

    name: str
    h: int
    stats: FittedStats
    neural: FittedNeural
    kind: str = "hybrid"

    @property
    def lookback(self) -> int:
        return self.neural.lookback

    def unseen(self, history: pd.DataFrame) -> list[str]:
        return self.stats.unseen(history)

    def short(self, history: pd.DataFrame) -> list[str]:
        return self.neural.short(history)

    def predict(self, history, freq, level) -> pd.DataFrame:
        forecast, residuals = self.stats.forecast_and_residuals(history, freq, level)
        correction = self.neural.predict(residuals, freq, level)["mean"].to_numpy()
        for column in ["mean", *(c for c in forecast.columns if c[:3] in ("lo-", "hi-"))]:
            forecast[column] = forecast[column].to_numpy() + correction
        return forecast

    def to_files(self, folder: Path, stem: str) -> dict[str, Any]:
        parts = {"stats": (self.stats, f"{stem}-ets"), "neural": (self.neural, f"{stem}-residual")}
        return {key: {"name": part.name, "h": self.h} | part.to_files(folder, name)
                for key, (part, name) in parts.items()}  # fmt: skip

    @classmethod
    def from_files(cls, folder: Path, entry: dict[str, Any]) -> FittedHybrid:
        stats = FittedStats.from_files(folder, entry["stats"])
        return cls(entry["name"], entry["h"], stats, FittedNeural.from_files(folder, entry["neural"]))


def check_chronos_path(path: str | Path) -> str:
    """``path`` if it is a Chronos checkpoint folder, else a ConfigError naming ``chronos_path`` and the fix."""
    import json

    folder = Path(path)
    config = folder / "config.json"
    if not config.is_file():
        raise bad_param("chronos_path", "Forecaster",
                        "a Chronos-Bolt checkpoint folder holding config.json and the weights", str(path))  # fmt: skip
    try:
        fields = json.loads(config.read_text())
    except (OSError, ValueError) as exc:
        raise bad_param("chronos_path", "Forecaster", f"a readable config.json ({exc})", str(path)) from None
    if "chronos_config" not in fields and "chronos_pipeline_class" not in fields:
        what = "a Chronos checkpoint (its config.json has no chronos_config: another model's)"
        raise bad_param("chronos_path", "Forecaster", what, str(path))
    return str(folder)


@dataclasses.dataclass
class ChronosBolt(_FitThenPredict):
    """Zero-shot Chronos-Bolt from a local checkpoint (``chronos-forecasting``); quantiles give the intervals."""

    path: str | None = None
    name: str = "ChronosBolt"
    kind: str = "foundation"
    device: str = "cpu"

    def unavailable(self) -> str | None:
        """Why this model cannot run here, or None."""
        import importlib.util

        if importlib.util.find_spec("chronos") is None:
            return "the chronos-forecasting package is not installed (pip install 'tightfit[chronos]')"
        if self.path is None:
            return "no Chronos-Bolt checkpoint: pass chronos_path= (a folder with config.json and model weights)"
        if not Path(self.path).exists():
            return f"chronos_path={self.path!r} does not exist"
        return None

    def fit(self, frame, h, freq, season_length, level, seed, time_s) -> FittedChronos:
        return FittedChronos(self.path, h, self.device)


@dataclasses.dataclass
class FittedChronos:
    """Chronos-Bolt has nothing to fit: it forecasts any history from its checkpoint."""

    path: str
    h: int
    device: str = "cpu"
    name: str = "ChronosBolt"
    kind: str = "foundation"

    def predict(self, history, freq, level) -> pd.DataFrame:
        import torch
        from chronos import BaseChronosPipeline

        from tightfit.budget import Budget

        if not hasattr(self, "_pipeline"):
            device = Budget(device=self.device).resolve_device()
            self._pipeline = BaseChronosPipeline.from_pretrained(self.path, device_map=device,
                                                                 torch_dtype=torch.float32)  # fmt: skip
        context = [torch.tensor(y) for y in series_values(history).values()]

        def bound(lv: int, side: int) -> float:  # rounded: 0.5 - 0.4 is 0.0999..., outside Chronos' 0.1
            return round(0.5 + side * lv / 200, 6)

        bounds = sorted({bound(lv, side) for lv in level for side in (-1, 1)} | {0.5})
        quantiles, _ = self._pipeline.predict_quantiles(context, prediction_length=self.h, quantile_levels=bounds)
        # sorted per step (rearrangement): separately predicted quantiles may cross; intervals must not
        quantiles = np.sort(quantiles.cpu().numpy().astype(np.float64).reshape(-1, len(bounds)), axis=1)
        future = _future(history, self.h, freq).assign(mean=quantiles[:, bounds.index(0.5)])
        for lv in level:
            future[f"lo-{lv}"] = quantiles[:, bounds.index(bound(lv, -1))]
            future[f"hi-{lv}"] = quantiles[:, bounds.index(bound(lv, 1))]
        return future

    def __getstate__(self) -> dict[str, Any]:  # the loaded pipeline is a cache: the path travels
        return {k: v for k, v in self.__dict__.items() if k != "_pipeline"}

    def to_files(self, folder: Path, stem: str) -> dict[str, Any]:
        return {"path": str(self.path)}

    @classmethod
    def from_files(cls, folder: Path, entry: dict[str, Any]) -> FittedChronos:
        return cls(entry["path"], entry["h"])


FITTED = {f.kind: f for f in (FittedStats, FittedLightGBM, FittedNeural, FittedChronos, FittedHybrid)}  # kind -> loader


ModelFactory = Callable[[Augmenter | None, str | None, str], Any]  # (augment, chronos_path, device) -> a model
MODELS: Registry[ModelFactory] = Registry("forecasting model")  # registration order: cheapest first


def _stats(name: str, seasonal: bool = True, search: bool = True) -> ModelFactory:
    return lambda augment, chronos, device: StatsModel(name, seasonal=seasonal, per_series_search=search)


def _neural(name: str) -> ModelFactory:
    return lambda augment, chronos, device: NeuralForecaster(name, augment=augment, device=device)


MODELS.register(
    "SeasonalNaive",
    _stats("SeasonalNaive", search=False),
    relaxes=("time",),
    rank=1,
    summary="last season repeated (statsforecast)",
)
MODELS.register(
    "Naive", _stats("Naive", seasonal=False, search=False), relaxes=("time",), rank=2, summary="last value repeated"
)
MODELS.register(
    "AutoETS",
    _stats("AutoETS"),
    relaxes=("time", "data"),
    rank=3,
    summary="exponential smoothing, automatic (statsforecast)",
)
MODELS.register(
    "AutoTheta",
    _stats("AutoTheta"),
    relaxes=("time", "data"),
    rank=4,
    summary="Theta method, automatic (statsforecast)",
)
MODELS.register(
    "LightGBM",
    lambda augment, chronos, device: LightGBMLags(),
    relaxes=("time",),
    rank=5,
    summary="gradient boosting on lags, one model across series",
)
MODELS.register("DLinear", _neural("DLinear"), rank=6, summary="DLinear through the training engine")
MODELS.register("AutoARIMA", _stats("AutoARIMA"), rank=7, summary="ARIMA, automatic order (statsforecast)")
MODELS.register("NHITS", _neural("NHITS"), rank=8, summary="a small N-HiTS through the training engine")
MODELS.register(
    "ETS+NHITS",
    lambda augment, chronos, device: HybridForecaster(augment=augment, device=device),
    rank=9,
    summary="AutoETS per series + N-HiTS on its residuals (a hybrid)",
)
MODELS.register(
    "ChronosBolt",
    lambda augment, chronos, device: ChronosBolt(chronos, device=device),
    relaxes=("data",),
    rank=10,
    summary="Chronos-Bolt zero-shot from a local checkpoint",
)
STACK = tuple(MODELS)


def model_stack(
    names: Sequence[str], augment: Augmenter | None, chronos_path: str | None, device: str = "cpu", n_jobs: int = 1
) -> list[Any]:
    """Model objects for ``names`` (ids of ``MODELS``), in the order given; neural ones train on ``device``,
    statistical ones split the series among ``n_jobs`` processes."""
    models = [MODELS[name](augment, chronos_path, device) for name in names]
    for model in models:
        if isinstance(model, (StatsModel, HybridForecaster)):
            model.n_jobs = n_jobs
    return models
