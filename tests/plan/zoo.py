"""A zoo of small architectures for the estimate's accuracy checks (tests and benchmarks/estimate.py).

Each entry: a builder taking a ``scale`` (1 = test size) and returning ``(model, sample_batch, configs)``;
the configs cover precision, accumulation, checkpointing (where the model has repeated blocks), LoRA and
the optimizers.
"""

from __future__ import annotations

import torch
from torch import nn

from tightfit.train import LoraSpec, TrainConfig


class ResidualMLP(nn.Module):
    def __init__(self, n_in: int, width: int, n_blocks: int, n_out: int) -> None:
        super().__init__()
        self.embed = nn.Linear(n_in, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
            for _ in range(n_blocks)
        )
        self.head = nn.Linear(width, n_out)

    def forward(self, x):
        x = self.embed(x)
        for block in self.blocks:
            x = x + block(x)
        return self.head(x)


class SmallCNN(nn.Module):
    def __init__(self, channels: int, n_blocks: int, n_out: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.blocks = nn.Sequential(
            *[
                nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU())
                for _ in range(n_blocks)
            ]
        )
        self.head = nn.Linear(channels, n_out)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class TokenTransformer(nn.Module):
    def __init__(self, n_features: int, d_model: int, n_layers: int, n_out: int) -> None:
        super().__init__()
        self.embed = nn.Linear(n_features, d_model)
        layer = nn.TransformerEncoderLayer(d_model, 4, 4 * d_model, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, n_out)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x)).mean(dim=1))


class GRUForecaster(nn.Module):
    def __init__(self, n_features: int, hidden: int, n_layers: int) -> None:
        super().__init__()
        self.rnn = nn.GRU(n_features, hidden, n_layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1]).squeeze(-1)


class FeatureTokenizer(nn.Module):
    """One learned embedding per numeric feature (value * weight + bias), plus a CLS token."""

    def __init__(self, n_features: int, d_model: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_features, d_model) * 0.02)
        self.bias = nn.Parameter(torch.zeros(n_features, d_model))
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model))

    def forward(self, x):
        tokens = x.unsqueeze(-1) * self.weight + self.bias  # (batch, features, d_model)
        return torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1)


class TabularTransformer(nn.Module):
    """FT-Transformer-style: every feature a token, attention across features, head on the CLS token."""

    def __init__(self, n_features: int, d_model: int, n_layers: int, n_out: int) -> None:
        super().__init__()
        self.tokenizer = FeatureTokenizer(n_features, d_model)
        layer = nn.TransformerEncoderLayer(d_model, 4, 2 * d_model, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, n_out)

    def forward(self, x):
        return self.head(self.encoder(self.tokenizer(x))[:, 0])


def _configs(batch: int, blocks: bool) -> list[TrainConfig]:
    quiet = {"verbose": False}
    return [
        TrainConfig(micro_batch=batch, **quiet),
        TrainConfig(micro_batch=batch // 2, accumulation=2, precision="bf16", **quiet),
        TrainConfig(micro_batch=batch, checkpointing=blocks, optimizer="sgd", **quiet),
        TrainConfig(micro_batch=batch, lora=LoraSpec(r=4), optimizer="adafactor", **quiet),
    ]


def mlp(scale: int = 1):
    torch.manual_seed(0)
    batch = 64 * scale
    return ResidualMLP(32, 64 * scale, 4, 10), (torch.randn(4, 32), torch.randint(0, 10, (4,))), _configs(batch, True)


def cnn(scale: int = 1):
    torch.manual_seed(0)
    batch = 32 * scale
    sample = (torch.randn(4, 1, 16, 16), torch.randint(0, 10, (4,)))
    return SmallCNN(8 * scale, 3, 10), sample, _configs(batch, True)


def transformer(scale: int = 1):
    torch.manual_seed(0)
    batch = 32 * scale
    sample = (torch.randn(4, 16, 8), torch.randint(0, 5, (4,)))
    return TokenTransformer(8, 32 * scale, 3, 5), sample, _configs(batch, True)


def gru(scale: int = 1):
    torch.manual_seed(0)
    batch = 32 * scale
    sample = (torch.randn(4, 24, 6), torch.randn(4))
    return GRUForecaster(6, 32 * scale, 2), sample, _configs(batch, False)


def tabular_transformer(scale: int = 1):
    torch.manual_seed(0)
    batch = 64 * scale
    sample = (torch.randn(4, 12), torch.randint(0, 3, (4,)))
    return TabularTransformer(12, 32 * scale, 3, 3), sample, _configs(batch, True)


ZOO = {"mlp": mlp, "cnn": cnn, "transformer": transformer, "gru": gru, "tabular_transformer": tabular_transformer}
