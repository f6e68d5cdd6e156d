"""Forecasting on a CPU budget: ``Forecaster`` validates a stack of models (statistical, LightGBM on lags,
DLinear/N-HiTS through the engine, optional Chronos-Bolt) by rolling origin within a time budget and
forecasts with the equal mean of the statistical models unless one model is clearly better; M4 metrics; window
augmentation for the neural models."""

from tightfit.timeseries.augment import Augmenter
from tightfit.timeseries.data import check_series
from tightfit.timeseries.forecaster import METRICS, Forecaster
from tightfit.timeseries.metrics import mase, msis, rmse, smape
from tightfit.timeseries.models import MODELS, STACK

__all__ = ["METRICS", "MODELS", "STACK", "Augmenter", "Forecaster", "check_series", "mase", "msis", "rmse", "smape"]
