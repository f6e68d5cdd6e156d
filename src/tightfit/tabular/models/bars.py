"""The "bar" distribution a regression TinyTFM predicts: a piecewise-uniform density over fixed bins of the
standardised target (Müller et al., *Transformers can do Bayesian inference*, ICLR 2022; TabPFN's regression
head). The model's outputs are one logit per bin; from them come the log-likelihood it is trained on, the
mean (the point prediction) and any quantile (intervals).

Bins are normal quantiles: each holds 1/``n_bins`` of a standard normal, so a standardised target spends its
resolution where it usually lies, and the two outer bins reach out to ±``CLIP`` standard deviations.
"""

from __future__ import annotations

from functools import cache

import torch
from scipy.special import ndtri

from tightfit.tabular.models.tiny import CLIP

__all__ = ["bar_borders", "bar_loss", "bar_mean", "bar_quantiles"]


@cache
def _borders(n_bins: int) -> tuple[float, ...]:
    inner = ndtri([k / n_bins for k in range(1, n_bins)])
    return (-CLIP, *map(float, inner), CLIP)


def bar_borders(n_bins: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The ``n_bins + 1`` bin edges over the standardised target, from ``-CLIP`` to ``CLIP``."""
    return torch.tensor(_borders(n_bins), dtype=torch.float32, device=device)


def bar_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean negative log-density of the standardised ``target`` (tables, queries) under the bar distributions
    ``logits`` (tables, queries, bins): the bin's cross-entropy plus the log of its width."""
    borders = bar_borders(logits.shape[-1], logits.device)
    target = target.float().clamp(-CLIP, CLIP)
    index = torch.bucketize(target, borders[1:-1]).reshape(-1)
    log_width = torch.log(borders[1:] - borders[:-1])
    logits = logits.float().reshape(-1, logits.shape[-1])
    return torch.nn.functional.cross_entropy(logits, index) + log_width[index].mean()


def bar_mean(probs: torch.Tensor) -> torch.Tensor:
    """The mean of each bar distribution ``probs`` (..., bins): the bins' midpoints weighted by probability."""
    borders = bar_borders(probs.shape[-1], probs.device).to(probs.dtype)
    return probs @ ((borders[1:] + borders[:-1]) / 2)


def bar_quantiles(probs: torch.Tensor, levels: list[float] | tuple[float, ...]) -> torch.Tensor:
    """Quantiles (..., len(levels)) of each bar distribution ``probs`` (..., bins): the density is uniform within
    a bin, so the inverse CDF is linear between the edges."""
    borders = bar_borders(probs.shape[-1], probs.device).to(probs.dtype)
    cdf = torch.cumsum(probs, dim=-1).clamp(max=1.0)
    below = torch.cat([torch.zeros_like(cdf[..., :1]), cdf[..., :-1]], dim=-1)
    out, last = [], probs.shape[-1] - 1
    for level in levels:
        index = torch.searchsorted(cdf.contiguous(), torch.full_like(cdf[..., :1], level)).clamp(max=last)
        mass = probs.gather(-1, index).clamp_min(1e-12)
        share = ((level - below.gather(-1, index)) / mass).clamp(0.0, 1.0)
        out.append(borders[index] + share * (borders[index + 1] - borders[index]))
    return torch.cat(out, dim=-1)
