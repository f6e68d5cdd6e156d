"""The neural forecasters as plain torch modules: ``(batch, lookback) -> (batch, horizon)``.

- DLinear (Zeng et al., AAAI 2023): a moving-average split into trend and remainder, one linear map each.
- NHiTS (Challu et al., AAAI 2023), small: stacks that read the input at coarser resolutions (max-pooling),
  predict a few coefficients of the forecast with an MLP and interpolate them to the horizon; each stack
  removes its backcast from the input of the next.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["DLinear", "NHiTS"]


class DLinear(nn.Module):
    def __init__(self, lookback: int, horizon: int) -> None:
        super().__init__()
        kernel = min(25, lookback)  # the paper's moving average of 25, shorter for short windows; odd
        self.kernel = max(3, kernel if kernel % 2 else kernel - 1)
        self.trend = nn.Linear(lookback, horizon)
        self.remainder = nn.Linear(lookback, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.kernel // 2
        padded = torch.cat([x[:, :1].expand(-1, pad), x, x[:, -1:].expand(-1, pad)], dim=1)
        trend = F.avg_pool1d(padded.unsqueeze(1), self.kernel, stride=1).squeeze(1)
        return self.trend(trend) + self.remainder(x - trend)


class _Block(nn.Module):
    def __init__(self, lookback: int, horizon: int, pool: int, coefficients: int, hidden: int) -> None:
        super().__init__()
        self.pool = pool
        self.horizon = horizon
        pooled = -(-lookback // pool)
        self.mlp = nn.Sequential(nn.Linear(pooled, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.backcast = nn.Linear(hidden, lookback)
        self.forecast = nn.Linear(hidden, coefficients)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = F.max_pool1d(x.unsqueeze(1), self.pool, stride=self.pool, ceil_mode=True).squeeze(1)
        hidden = self.mlp(pooled)
        coefficients = self.forecast(hidden).unsqueeze(1)
        forecast = F.interpolate(coefficients, size=self.horizon, mode="linear", align_corners=True).squeeze(1)
        return self.backcast(hidden), forecast


class NHiTS(nn.Module):
    def __init__(self, lookback: int, horizon: int, pools: tuple[int, ...] = (4, 2, 1), hidden: int = 128) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            _Block(lookback, horizon, min(pool, lookback), max(2, horizon // pool), hidden) for pool in pools
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        forecast = torch.zeros(x.shape[0], self.blocks[0].horizon, dtype=x.dtype, device=x.device)
        for block in self.blocks:
            backcast, step = block(x)
            x = x - backcast
            forecast = forecast + step
        return forecast
