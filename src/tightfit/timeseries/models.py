"""The forecasting model stack, cheapest first. Every model has one call shape:

``model.forecast(frame, h, freq, season_length, level, seed, time_s) -> DataFrame`` with columns
``unique_id, ds, mean`` and, when the model makes its own intervals, ``lo-80, hi-80, ...``. ``frame`` is the
checked long-format history. Statistical models come from statsforecast; LightGBM forecasts recursively from
lag, rolling and calendar features built here; DLinear and a small N-HiTS are torch modules trained through
tightfit's engine (so its precision, early stopping and time budget apply); Chronos-Bolt runs zero-shot from a
local checkpoint through the ``chronos-forecasting`` package.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tightfit.registry import Registry
from tightfit.timeseries.augment import Augmenter
from tightfit.timeseries.data import next_dates

__all__ = ["MODELS", "STACK", "ChronosBolt", "LightGBMLags", "NeuralForecaster", "StatsModel", "model_stack"]


def _future(frame: pd.DataFrame, h: int, freq: str | int) -> pd.DataFrame:
    """unique_id and ds of the ``h`` steps after each series' end."""
    rows = [
        pd.DataFrame({"unique_id": uid, "ds": next_dates(group["ds"].iloc[-1], freq, h)})
        for uid, group in frame.groupby("unique_id", sort=False)
    ]
    return pd.concat(rows, ignore_index=True)


@dataclasses.dataclass
class StatsModel:
    """A statsforecast model (``SeasonalNaive``, ``Naive``, ``AutoETS``, ``AutoTheta``, ``AutoARIMA``)."""

    name: str
    seasonal: bool = True  # uses season_length (False: the naive forecast)
    kind: str = "statistical"
    n_jobs: int = 1  # statsforecast's worker processes: the series are split among them
    per_series_search: bool = True  # a model search per series, worth a pool (False: the naive ones, ~1 ms)

    def forecast(self, frame, h, freq, season_length, level, seed, time_s) -> pd.DataFrame:
        from statsforecast import StatsForecast, models

        cls = getattr(models, self.name)
        model = cls(season_length=season_length) if self.seasonal else cls()
        n_jobs = min(self.n_jobs, frame["unique_id"].nunique()) if self.per_series_search else 1
        result = StatsForecast(models=[model], freq=freq, n_jobs=n_jobs).forecast(
            df=frame[["unique_id", "ds", "y"]], h=h, level=list(level)
        )
        result = result.reset_index() if "unique_id" not in result.columns else result
        rename = {self.name: "mean"} | {
            c: c.removeprefix(f"{self.name}-") for c in result.columns if c.startswith(f"{self.name}-")
        }
        return result.rename(columns=rename)[["unique_id", "ds", "mean", *[c for c in rename.values() if c != "mean"]]]


def _calendar(ds: pd.Series) -> np.ndarray:
    if not pd.api.types.is_datetime64_any_dtype(ds):
        return np.empty((len(ds), 0))
    ds = pd.DatetimeIndex(ds)
    return np.column_stack([ds.month, ds.quarter, ds.dayofweek, ds.hour, ds.dayofyear])


@dataclasses.dataclass
class LightGBMLags:
    """Gradient boosting on lags, rolling means and calendar features, one model across series, each series
    scaled by the mean absolute value of its history; forecasts step by step (recursive)."""

    name: str = "LightGBM"
    kind: str = "ml"

    def _lags(self, season_length: int, shortest: int, h: int) -> list[int]:
        wanted = sorted({*range(1, 8), season_length, 2 * season_length})
        return [lag for lag in wanted if lag <= max(1, shortest - h - 4)]

    @staticmethod
    def _features(values: np.ndarray, lags: list[int], season_length: int) -> np.ndarray:
        """Features of the next point after ``values`` (1-D, scaled)."""
        n = len(values)
        lagged = [values[n - lag] if lag <= n else np.nan for lag in lags]
        rolling = [values[-w:].mean() for w in (3, max(season_length, 2))]
        return np.array([*lagged, *rolling])

    def forecast(self, frame, h, freq, season_length, level, seed, time_s) -> pd.DataFrame:
        from lightgbm import LGBMRegressor

        shortest = frame.groupby("unique_id").size().min()
        lags = self._lags(season_length, shortest, h)
        X, y, histories = [], [], {}
        for uid, group in frame.groupby("unique_id", sort=False):
            values = group["y"].to_numpy(dtype=float)
            scale = np.mean(np.abs(values)) or 1.0
            scaled = values / scale
            calendar = _calendar(group["ds"])
            histories[uid] = (scaled, scale, group["ds"])
            for t in range(max(lags[-1], 3), len(values)):
                X.append(np.concatenate([self._features(scaled[:t], lags, season_length), calendar[t]]))
                y.append(scaled[t])
        model = LGBMRegressor(n_estimators=300, learning_rate=0.05, num_leaves=31, min_child_samples=5,
                              random_state=seed, verbose=-1, n_jobs=1)  # fmt: skip
        model.fit(np.array(X), np.array(y))
        future = _future(frame, h, freq)
        means = []
        for uid, group in future.groupby("unique_id", sort=False):
            scaled, scale, _ = histories[uid]
            calendar = _calendar(group["ds"])
            path = list(scaled)
            for step in range(h):
                features = np.concatenate([self._features(np.array(path), lags, season_length), calendar[step]])
                path.append(float(model.predict(features[None, :])[0]))
            means.extend(np.array(path[-h:]) * scale)
        return future.assign(mean=means)


@dataclasses.dataclass
class NeuralForecaster:
    """DLinear or a small N-HiTS trained through tightfit's engine on windows from every series (global),
    each window normalised by its own mean and std; augmented copies of the windows when asked."""

    name: str  # "DLinear" | "NHITS"
    kind: str = "neural"
    epochs: int = 30
    augment: Augmenter | None = None
    device: str = "cpu"  # the Forecaster's Budget.device ("auto" takes CUDA when torch sees it)

    def forecast(self, frame, h, freq, season_length, level, seed, time_s) -> pd.DataFrame:
        import torch

        from tightfit.budget import Budget
        from tightfit.timeseries.networks import DLinear, NHiTS
        from tightfit.train import EarlyStop, TrainConfig, Trainer

        series = [g["y"].to_numpy(dtype=float) for _, g in frame.groupby("unique_id", sort=False)]
        shortest = min(len(s) for s in series)
        lookback = int(min(max(2 * h, 2 * season_length, 16), max(shortest - h, 4)))
        windows = np.concatenate([
            np.lib.stride_tricks.sliding_window_view(s, lookback + h) for s in series if len(s) >= lookback + h
        ])  # fmt: skip
        rng = np.random.default_rng(seed)
        if self.augment is not None and self.augment.active:
            windows = np.concatenate([windows, self.augment(windows, rng)])
        mean = windows[:, :lookback].mean(axis=1, keepdims=True)
        std = windows[:, :lookback].std(axis=1, keepdims=True) + 1e-5
        normed = torch.tensor((windows - mean) / std, dtype=torch.float32)
        order = torch.tensor(rng.permutation(len(normed)))
        normed = normed[order]
        n_val = max(1, len(normed) // 10) if len(normed) >= 20 else 0
        x, y = normed[:, :lookback], normed[:, lookback:]
        torch.manual_seed(seed)
        net = DLinear(lookback, h) if self.name == "DLinear" else NHiTS(lookback, h)
        config = TrainConfig(
            epochs=self.epochs, micro_batch=min(64, max(8, len(x) // 8)), lr=3e-3 if self.name == "DLinear" else 1e-3,
            early_stopping=EarlyStop(patience=4) if n_val else None, verbose=False, seed=seed,
        )  # fmt: skip
        val = (x[:n_val], y[:n_val]) if n_val else None
        Trainer(net, torch.nn.functional.l1_loss, config).fit(
            (x[n_val:], y[n_val:]), val, budget=Budget(time=time_s, device=self.device)
        )
        net.eval()
        contexts = np.stack([s[-lookback:] for s in series])
        c_mean, c_std = contexts.mean(axis=1, keepdims=True), contexts.std(axis=1, keepdims=True) + 1e-5
        where = next(net.parameters()).device  # the engine put the network on the budget's device
        with torch.no_grad():
            out = net(torch.tensor((contexts - c_mean) / c_std, dtype=torch.float32, device=where)).cpu().numpy()
        future = _future(frame, h, freq)
        return future.assign(mean=(out * c_std + c_mean).reshape(-1))


@dataclasses.dataclass
class ChronosBolt:
    """Zero-shot Chronos-Bolt from a local checkpoint (``chronos-forecasting``); quantiles give the intervals."""

    path: str | None = None
    name: str = "ChronosBolt"
    kind: str = "foundation"
    device: str = "cpu"

    def unavailable(self) -> str | None:
        """Why this model cannot run here, or None."""
        import importlib.util
        from pathlib import Path

        if importlib.util.find_spec("chronos") is None:
            return "the chronos-forecasting package is not installed (pip install chronos-forecasting)"
        if self.path is None:
            return "no Chronos-Bolt checkpoint: pass chronos_path= (a folder with config.json and model weights)"
        if not Path(self.path).exists():
            return f"chronos_path={self.path!r} does not exist"
        return None

    def forecast(self, frame, h, freq, season_length, level, seed, time_s) -> pd.DataFrame:
        import torch
        from chronos import BaseChronosPipeline

        from tightfit.budget import Budget

        device = Budget(device=self.device).resolve_device()
        pipeline = BaseChronosPipeline.from_pretrained(self.path, device_map=device, torch_dtype=torch.float32)
        context = [torch.tensor(g["y"].to_numpy(dtype=float)) for _, g in frame.groupby("unique_id", sort=False)]
        bounds = sorted({q for lv in level for q in (0.5 - lv / 200, 0.5 + lv / 200)} | {0.5})
        quantiles, _ = pipeline.predict_quantiles(context, prediction_length=h, quantile_levels=bounds)
        quantiles = quantiles.cpu().numpy().reshape(-1, len(bounds))
        future = _future(frame, h, freq).assign(mean=quantiles[:, bounds.index(0.5)])
        for lv in level:
            future[f"lo-{lv}"] = quantiles[:, bounds.index(0.5 - lv / 200)]
            future[f"hi-{lv}"] = quantiles[:, bounds.index(0.5 + lv / 200)]
        return future


ModelFactory = Callable[[Augmenter | None, str | None, str], Any]  # (augment, chronos_path, device) -> a model
MODELS: Registry[ModelFactory] = Registry("forecasting model")  # registration order: cheapest first


def _stats(name: str, seasonal: bool = True, search: bool = True) -> ModelFactory:
    return lambda augment, chronos, device: StatsModel(name, seasonal=seasonal, per_series_search=search)


def _neural(name: str) -> ModelFactory:
    return lambda augment, chronos, device: NeuralForecaster(name, augment=augment, device=device)


MODELS.register("SeasonalNaive", _stats("SeasonalNaive", search=False), relaxes=("time",), rank=1,
                summary="last season repeated (statsforecast)")
MODELS.register("Naive", _stats("Naive", seasonal=False, search=False), relaxes=("time",), rank=2,
                summary="last value repeated")
MODELS.register("AutoETS", _stats("AutoETS"), relaxes=("time", "data"), rank=3,
                summary="exponential smoothing, automatic (statsforecast)")
MODELS.register("AutoTheta", _stats("AutoTheta"), relaxes=("time", "data"), rank=4,
                summary="Theta method, automatic (statsforecast)")
MODELS.register("LightGBM", lambda augment, chronos, device: LightGBMLags(), relaxes=("time",), rank=5,
                summary="gradient boosting on lags, one model across series")
MODELS.register("DLinear", _neural("DLinear"), rank=6, summary="DLinear through the training engine")
MODELS.register("AutoARIMA", _stats("AutoARIMA"), rank=7, summary="ARIMA, automatic order (statsforecast)")
MODELS.register("NHITS", _neural("NHITS"), rank=8, summary="a small N-HiTS through the training engine")
MODELS.register("ChronosBolt", lambda augment, chronos, device: ChronosBolt(chronos, device=device),
                relaxes=("data",), rank=9, summary="Chronos-Bolt zero-shot from a local checkpoint")
STACK = tuple(MODELS)


def model_stack(
    names: Sequence[str], augment: Augmenter | None, chronos_path: str | None, device: str = "cpu", n_jobs: int = 1
) -> list[Any]:
    """Model objects for ``names`` (ids of ``MODELS``), in the order given; neural ones train on ``device``,
    statistical ones split the series among ``n_jobs`` processes."""
    models = [MODELS[name](augment, chronos_path, device) for name in names]
    for model in models:
        if isinstance(model, StatsModel):
            model.n_jobs = n_jobs
    return models
