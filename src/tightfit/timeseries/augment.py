"""Augmentation of training windows for the neural forecasters (Um et al. 2017; Le Guennec et al. 2016).

Each transform maps windows ``(n, length)`` to the same shape and is applied to a window with its own
probability. ``jitter`` adds Gaussian noise (sigma times the window's std), ``scaling`` multiplies by a
factor near 1, ``magnitude_warp`` multiplies by a smooth random curve, ``time_warp`` resamples along a smooth
random time axis, ``window_slice`` stretches a random slice (``ratio`` of the window) back to full length,
``freq_mix`` (FrAug's FreqMix, Chen et al. 2023) replaces a random ``mix_rate`` of a window's frequency components
(its level, the zero frequency, kept) with another window's of the same batch: new series with the spectra of
related ones, the augmentation the low-data seed recommends across related short series.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tightfit.errors import bad_param
from tightfit.params import Interval, check

__all__ = ["Augmenter"]


def _smooth_curve(rng: np.random.Generator, n: int, length: int, sigma: float, knots: int = 4) -> np.ndarray:
    """Random curves around 1 through ``knots + 2`` points, interpolated linearly: ``(n, length)``."""
    at = np.linspace(0, length - 1, knots + 2)
    values = rng.normal(1.0, sigma, size=(n, knots + 2))
    grid = np.arange(length)
    return np.array([np.interp(grid, at, v) for v in values]).reshape(n, length)


@dataclasses.dataclass(frozen=True)
class Augmenter:
    """Probabilities (0..1) and strengths of each transform; ``Augmenter()`` applies none."""

    jitter: float = 0.0
    scaling: float = 0.0
    magnitude_warp: float = 0.0
    time_warp: float = 0.0
    window_slice: float = 0.0
    freq_mix: float = 0.0
    jitter_sigma: float = 0.03
    scaling_sigma: float = 0.1
    warp_sigma: float = 0.2
    slice_ratio: float = 0.9
    mix_rate: float = 0.2

    def __post_init__(self) -> None:
        for name in ("jitter", "scaling", "magnitude_warp", "time_warp", "window_slice", "freq_mix"):
            value = getattr(self, name)
            check("Augmenter", **{name: (value, Interval(float, 0, 1, what="a probability in [0, 1]"))})
        for name in ("jitter_sigma", "scaling_sigma", "warp_sigma"):
            if not getattr(self, name) >= 0:
                raise bad_param(name, "Augmenter", "a number >= 0", getattr(self, name))
        if not 0 < self.slice_ratio <= 1:
            raise bad_param("slice_ratio", "Augmenter", "a fraction in (0, 1]", self.slice_ratio)
        if not 0 < self.mix_rate <= 1:
            raise bad_param("mix_rate", "Augmenter", "a fraction in (0, 1]", self.mix_rate)

    @property
    def active(self) -> bool:
        return any((self.jitter, self.scaling, self.magnitude_warp, self.time_warp, self.window_slice, self.freq_mix))

    def __call__(self, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augmented copies of ``windows`` (n, length): each transform hits each window with its probability."""
        out = np.array(windows, dtype=float, copy=True)
        n, length = out.shape
        std = out.std(axis=1, keepdims=True) + 1e-8

        def chosen(p: float) -> np.ndarray:
            return rng.random(n) < p

        hit = chosen(self.jitter)
        out[hit] += rng.normal(0, self.jitter_sigma, size=(hit.sum(), length)) * std[hit]
        hit = chosen(self.scaling)
        out[hit] *= rng.normal(1.0, self.scaling_sigma, size=(hit.sum(), 1))
        hit = chosen(self.magnitude_warp)
        out[hit] *= _smooth_curve(rng, int(hit.sum()), length, self.warp_sigma)
        grid = np.arange(length, dtype=float)
        for i in np.flatnonzero(chosen(self.time_warp)):
            speed = _smooth_curve(rng, 1, length, self.warp_sigma)[0].clip(0.1)
            warped = np.cumsum(speed)
            warped = (warped - warped[0]) / (warped[-1] - warped[0]) * (length - 1)
            out[i] = np.interp(grid, warped, out[i])
        size = max(2, round(self.slice_ratio * length))
        for i in np.flatnonzero(chosen(self.window_slice)):
            start = rng.integers(0, length - size + 1)
            out[i] = np.interp(grid, np.linspace(0, length - 1, size), out[i, start : start + size])
        hit = np.flatnonzero(chosen(self.freq_mix))
        if len(hit) and n > 1:
            partners = (hit + rng.integers(1, n, size=len(hit))) % n  # another window of the batch
            spectra, donors = np.fft.rfft(out[hit], axis=1), np.fft.rfft(out[partners], axis=1)
            swap = rng.random(spectra.shape) < self.mix_rate
            swap[:, 0] = False  # the level stays the window's own
            out[hit] = np.fft.irfft(np.where(swap, donors, spectra), n=length, axis=1)
        return out
