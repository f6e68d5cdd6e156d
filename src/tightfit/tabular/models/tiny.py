"""`TinyTFM`: a small in-context tabular model (a prior-fitted network) in the style of nanoTabPFN.

A table is a grid of tokens: every cell one token (or, with ``features_per_token=k``, every k consecutive cells
of a row one token, as TabPFN v2.5 groups features, so a wide row costs k times fewer tokens), plus one target
token per row (the label, or the standardised target value, for context rows; a learned "unknown" token for
query rows). Each block alternates

1. attention across the cells of a row (features and target),
2. attention across rows within a column, where every row attends to the context rows only, so a query row
   never sees another query row and predictions do not depend on which other rows are asked,
3. a feed-forward layer,

with pre-norm residuals. No positional or feature-index embedding is used, so the output is invariant to the
order of context rows and (with one cell per token) of features; grouped cells are ordered within a token, which
the ensembles' feature permutations average over. The decoder reads the target token of each query row: class logits
(``task="classification"``) or the logits of a binned "bar" distribution over the standardised target
(``task="regression"``; see :mod:`tightfit.tabular.models.bars`). Columns, and a regression target, are
standardised with context rows only (missing cells become 0 plus a missing indicator), inside ``forward``,
so the module takes raw numbers.

References: Hollmann et al., TabPFN (ICLR 2023; Nature 2025); Pfefferle et al., nanoTabPFN (arXiv 2511.03634).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tightfit.errors import ConfigError, bad_param
from tightfit.params import Interval, Options, check

__all__ = [
    "FORMAT_VERSION",
    "TASKS",
    "ContextCache",
    "TinyTFM",
    "TinyTFMConfig",
    "load_tiny_tfm",
    "regroup",
    "save_tiny_tfm",
    "task_loss",
]

FORMAT_VERSION = 1
CLIP = 10.0  # standardised values beyond this many standard deviations are clipped
CONSTANT_STD = 1e-5  # a column whose context std is below this (relative to its mean) is constant
TASKS = ("classification", "regression")


@dataclass(frozen=True)
class TinyTFMConfig:
    """Architecture: width, heads, depth, feed-forward width, the task, its outputs (the largest number of
    classes, or the bins of the regression target's distribution), and how many cells share a token."""

    d_model: int = 96
    n_heads: int = 4
    n_layers: int = 3
    d_ff: int = 192
    max_classes: int = 10
    task: str = "classification"
    n_bins: int = 64
    features_per_token: int = 1  # cells packed into one token: attention across features costs ~1/size^2

    def __post_init__(self) -> None:
        sizes = ("d_model", "n_heads", "n_layers", "d_ff", "features_per_token")
        check("TinyTFMConfig", **{n: (getattr(self, n), Interval(int, 1)) for n in sizes})
        if self.d_model % self.n_heads:
            raise bad_param("d_model", "TinyTFMConfig", f"a multiple of n_heads={self.n_heads}", self.d_model)
        check("TinyTFMConfig", max_classes=(self.max_classes, Interval(int, 2)), task=(self.task, Options(*TASKS)),
              n_bins=(self.n_bins, Interval(int, 2)))  # fmt: skip

    @property
    def n_outputs(self) -> int:
        """Decoder outputs: one logit per class, or per bin."""
        return self.max_classes if self.task == "classification" else self.n_bins


class _Attention(nn.Module):
    """Multi-head attention through ``scaled_dot_product_attention``; keys/values may be a prefix of the rows."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values, each (batch, heads, length, head width)."""
        batch, length, width = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.n_heads, width // self.n_heads).permute(2, 0, 3, 1, 4)
        return q, k, v

    def forward(
        self, x: torch.Tensor, n_keys: int | None = None, kv: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Attend over ``x``, over its first ``n_keys`` positions, or over cached keys and values ``kv``."""
        batch, length, width = x.shape
        q, k, v = self.heads(x)
        if kv is not None:
            k, v = kv
        elif n_keys is not None:
            k, v = k[:, :, :n_keys], v[:, :, :n_keys]
        attended = F.scaled_dot_product_attention(q, k, v)
        return self.out(attended.transpose(1, 2).reshape(batch, length, width))


class TFMBlock(nn.Module):
    """Attention across features, attention across rows (to context rows only), feed-forward."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int) -> None:
        super().__init__()
        self.norm_features = nn.LayerNorm(d_model)
        self.features = _Attention(d_model, n_heads)
        self.norm_rows = nn.LayerNorm(d_model)
        self.rows = _Attention(d_model, n_heads)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(
        self, h: torch.Tensor, n_context: int | None, kv: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Rows attend to the first ``n_context`` rows, or (query rows only) to the context's cached ``kv``."""
        h, by_column = self._across_features(h)
        tables, rows, tokens, width = h.shape
        across_rows = self.rows(by_column, n_keys=n_context, kv=kv)
        h = h + across_rows.view(tables, tokens, rows, width).transpose(1, 2)
        return h + self.ff(self.norm_ff(h))

    def context_kv(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The row attention's keys and values of context rows ``h`` (their only input from this block)."""
        _, k, v = self.rows.heads(self._across_features(h)[1])
        return k.contiguous(), v.contiguous()  # views would keep the queries' third of the projection alive

    def _across_features(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tables, rows, tokens, width = h.shape
        across_features = self.features(self.norm_features(h).reshape(tables * rows, tokens, width))
        h = h + across_features.view(tables, rows, tokens, width)
        return h, self.norm_rows(h).transpose(1, 2).reshape(tables * tokens, rows, width)


def column_stats(context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per table and column, the mean and std of the context rows (NaN ignored), each (tables, 1, features)."""
    context = context.float()
    observed = ~torch.isnan(context)
    count = observed.sum(1, keepdim=True).clamp_min(1)
    mean = torch.where(observed, context, 0.0).sum(1, keepdim=True) / count
    var = (torch.where(observed, context - mean, 0.0) ** 2).sum(1, keepdim=True) / count
    return mean, var.sqrt()


def _scaled(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.float()
    missing = torch.isnan(x)
    # A constant column's std is float rounding (~1e-7 of its value), and differs with how the context was
    # summed (alone when encoded, as a slice in forward): below this floor the column counts as constant.
    varies = std > CONSTANT_STD * (1 + mean.abs())
    z = torch.where(varies, (x - mean) / std.clamp_min(1e-8), 0.0)
    return torch.where(missing, 0.0, z).clamp(-CLIP, CLIP), missing.float()


def standardise(x: torch.Tensor, n_context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per table and column, z-score with the context rows' mean and std (NaN ignored), clipped to
    ±``CLIP``; missing cells become 0. Returns (values, missing indicator), both float32."""
    return _scaled(x, *column_stats(x[:, :n_context]))


@dataclass
class ContextCache:
    """What query rows need of a context: its column statistics, the keys and values every block's row
    attention reads, and which classes it holds (None for regression). Built by :meth:`TinyTFM.encode_context`."""

    mean: torch.Tensor
    std: torch.Tensor
    kv: list[tuple[torch.Tensor, torch.Tensor]]
    present: torch.Tensor | None


class TinyTFM(nn.Module):
    """In-context model: ``forward(x, y_context) -> logits`` of the query rows.

    Parameters of ``forward``
    -------------------------
    x : (tables, rows, features) float
        Context rows first, then query rows; NaN marks a missing cell.
    y_context : (tables, n_context)
        Classification: int labels of the context rows, in ``0 .. max_classes - 1``. Regression: float
        targets, standardised inside with the context's mean and std (as the loss's targets must be).

    Returns ``(tables, rows - n_context, n_outputs)`` logits: per class, where classes absent from a table's
    context get ``-inf``; or per bin of the standardised target (:func:`~tightfit.tabular.models.bars.bar_borders`).
    ``blocks`` is the ``nn.ModuleList`` the engine's checkpointing and LoRA act on.
    """

    def __init__(self, config: TinyTFMConfig | None = None) -> None:
        super().__init__()
        self.config = config or TinyTFMConfig()
        c = self.config
        self.cell = nn.Linear(2 * c.features_per_token, c.d_model)  # (standardised value, missing indicator) each
        if c.task == "classification":
            self.label = nn.Embedding(c.max_classes + 1, c.d_model)  # the last index: "unknown" (query rows)
        else:
            self.target = nn.Linear(1, c.d_model)  # the standardised target of a context row
            self.unknown = nn.Parameter(torch.randn(c.d_model) * 0.02)  # query rows
        self.blocks = nn.ModuleList(TFMBlock(c.d_model, c.n_heads, c.d_ff) for _ in range(c.n_layers))
        self.norm = nn.LayerNorm(c.d_model)
        self.decoder = nn.Sequential(nn.Linear(c.d_model, c.d_ff), nn.GELU(), nn.Linear(c.d_ff, c.n_outputs))

    def forward(self, x: torch.Tensor, y_context: torch.Tensor) -> torch.Tensor:
        rows = x.shape[1]
        n_context = y_context.shape[1]
        if not 0 < n_context < rows:
            raise ConfigError(f"TinyTFM needs 0 < n_context < rows; got n_context={n_context}, rows={rows}.")
        h = self._tokens(*standardise(x, n_context), y_context)
        for block in self.blocks:
            h = block(h, n_context)
        return self._decode(h[:, n_context:, -1], self._present(y_context))

    @torch.no_grad()
    def encode_context(self, x_context: torch.Tensor, y_context: torch.Tensor) -> ContextCache:
        """Run the context rows once. They attend only to each other, so their keys and values in every block
        do not depend on the queries: :meth:`forward_queries` then costs only the query rows' own work."""
        mean, std = column_stats(x_context)
        h = self._tokens(*_scaled(x_context, mean, std), y_context)
        kv = []
        for block in self.blocks:
            kv.append(block.context_kv(h))
            h = block(h, None, kv=kv[-1])
        return ContextCache(mean=mean, std=std, kv=kv, present=self._present(y_context))

    def forward_queries(self, cache: ContextCache, x_query: torch.Tensor) -> torch.Tensor:
        """Logits of ``x_query`` (tables, rows, features) against an encoded context; equal to :meth:`forward`
        on the context and these rows together."""
        h = self._tokens(*_scaled(x_query, cache.mean, cache.std), None)
        for block, kv in zip(self.blocks, cache.kv, strict=True):
            h = block(h, None, kv=kv)
        return self._decode(h[:, :, -1], cache.present)

    def _tokens(self, values: torch.Tensor, missing: torch.Tensor, y_context: torch.Tensor | None) -> torch.Tensor:
        """Cell tokens plus one target token per row; rows past the context get the "unknown" token."""
        tables, rows, _ = values.shape
        cells = self.cell(group_cells(values, missing, self.config.features_per_token))  # (tables, rows, tokens, d)
        n_known = 0 if y_context is None else y_context.shape[1]
        if self.config.task == "classification":
            unknown = torch.full((tables, rows - n_known), self.config.max_classes, device=values.device)
            known = [] if y_context is None else [y_context.long()]
            targets = self.label(torch.cat([*known, unknown], dim=1))
        else:
            unknown = self.unknown.expand(tables, rows - n_known, -1)
            known = [] if y_context is None else [self.target(standardise_target(y_context).unsqueeze(-1))]
            targets = torch.cat([*known, unknown.to(cells.dtype)], dim=1)
        return torch.cat([cells, targets.unsqueeze(2).to(cells.dtype)], dim=2)

    def _present(self, y_context: torch.Tensor) -> torch.Tensor | None:
        """Which classes each table's context holds (tables, classes); None for regression."""
        if self.config.task == "regression":
            return None
        return F.one_hot(y_context.long(), self.config.max_classes).amax(dim=1).bool()

    def _decode(self, target_tokens: torch.Tensor, present: torch.Tensor | None) -> torch.Tensor:
        logits = self.decoder(self.norm(target_tokens)).float()
        return logits if present is None else logits.masked_fill(~present.unsqueeze(1), float("-inf"))


def group_cells(values: torch.Tensor, missing: torch.Tensor, size: int) -> torch.Tensor:
    """(tables, rows, features) values and missing flags -> (tables, rows, ceil(features / size), 2 * size):
    ``size`` consecutive cells per token, each as (value, missing). The last token is padded with cells that read
    as a constant column (value 0, observed), which carries no information."""
    cells = torch.stack([values, missing], dim=-1)
    if size == 1:
        return cells
    cells = F.pad(cells, (0, 0, 0, -cells.shape[2] % size))
    tables, rows, features, _ = cells.shape
    return cells.reshape(tables, rows, features // size, 2 * size)


def standardise_target(y: torch.Tensor, n_context: int | None = None) -> torch.Tensor:
    """Regression targets (tables, rows) z-scored per table with the mean and std of the first ``n_context``
    rows (all by default), clipped to ±``CLIP``: a context's targets as the model reads them, and the queries'
    targets on the scale its bins lie (the prior's and fine-tuning episodes' loss targets)."""
    y = y.float()
    context = y if n_context is None else y[:, :n_context]
    mean, std = context.mean(1, keepdim=True), context.std(1, correction=0, keepdim=True)
    return ((y - mean) / std.clamp_min(1e-8)).clamp(-CLIP, CLIP)


def query_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over query rows; targets of -100 (classes absent from the context) are ignored."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)


def task_loss(task: str):
    """The pretraining and fine-tuning loss of ``task``: class cross-entropy, or the bar distribution's
    negative log-likelihood of standardised targets."""
    if task == "classification":
        return query_loss
    from tightfit.tabular.models.bars import bar_loss

    return bar_loss


def regroup(model: TinyTFM, features_per_token: int) -> TinyTFM:
    """A copy of a one-cell-per-token ``model`` that packs ``features_per_token`` cells per token, for warm-starting
    a grouped pretraining: every weight is copied and the cell layer is tiled, so a token starts as the sum of its
    cells' embeddings (one bias)."""
    if model.config.features_per_token != 1:
        raise bad_param("model", "regroup", "a model with features_per_token=1",
                        f"features_per_token={model.config.features_per_token}")  # fmt: skip
    config = replace(model.config, features_per_token=features_per_token)
    grouped = TinyTFM(config)
    state = dict(model.state_dict())
    state["cell.weight"] = state["cell.weight"].repeat(1, features_per_token)
    grouped.load_state_dict(state)
    return grouped.train(model.training)


def save_tiny_tfm(model: TinyTFM, path: str | Path, card: dict[str, Any] | None = None) -> Path:
    """Write the weights (``path``) and a JSON card beside it (``path`` with ``.json``), atomically."""
    from tightfit.files import atomic_save, atomic_write_text

    path = Path(path)
    state = {"format_version": FORMAT_VERSION, "config": asdict(model.config), "state_dict": model.state_dict()}
    atomic_save(path, lambda tmp: torch.save(state, tmp))
    full_card = {"format_version": FORMAT_VERSION, "architecture": asdict(model.config)} | (card or {})
    full_card["parameters"] = sum(p.numel() for p in model.parameters())
    atomic_write_text(path.with_suffix(".json"), json.dumps(full_card, indent=2))
    return path


def load_tiny_tfm(path: str | Path, map_location: str | torch.device = "cpu") -> TinyTFM:
    """Load weights written by :func:`save_tiny_tfm`; a different format version is a clear error."""
    state = torch.load(Path(path), map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        found = state.get("format_version") if isinstance(state, dict) else type(state).__name__
        raise ConfigError(f"{path} is not a TinyTFM checkpoint of format version {FORMAT_VERSION} (found {found!r}).")
    model = TinyTFM(TinyTFMConfig(**state["config"]))
    model.load_state_dict(state["state_dict"])
    return model.eval()
