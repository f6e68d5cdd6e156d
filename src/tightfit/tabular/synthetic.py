"""tightfit's own prior: small, fast-to-learn synthetic classification tables, generated in milliseconds.

Each table draws correlated features (a random linear mix of Gaussians, some columns passed through a
monotone warp — exp, cube, log-magnitude, uniform — some rounded to integers like counts or codes, and with
``zero_inflated`` some holding zero on many rows), a subset of them relevant (70%, or about 10 of a wide
table), and one labelling rule:

- ``linear``: the argmax of random linear scores of the relevant features;
- ``mlp``: the argmax of a random one-hidden-layer tanh network;
- ``thresholds``: the argmax of sums of random axis-aligned threshold steps (tree-like);
- ``clusters``: the nearest of random class centres.

Then a fraction of labels (0-20%) is flipped at random. A regression table (``settings.task="regression"``)
takes one score of the same rules as its target, adds Gaussian noise of a random share of its spread
(0-50%), and for half of the tables passes it through a monotone warp (exp, cube, square of a positive
score) so that skewed, heavy-tailed targets like prices and counts are seen too.

This prior exists because on 2 CPU cores TabICL's structural-causal prior (about 1 s per batch of 32 tables
in one thread) left the model at the class-frequency loss after 450 steps, while tables like these teach
in-context classification within a few hundred steps (measured; see the README's tabular section).
"""

from __future__ import annotations

import math

import torch

from tightfit.tabular.prior import TableBatches

__all__ = ["RULES", "SyntheticBatches"]

RULES = ("linear", "mlp", "thresholds", "clusters")


def _features(g: torch.Generator, rows: int, features: int, zero_inflated: float = 0.0) -> torch.Tensor:
    latent = torch.randn(rows, features, generator=g)
    mix = torch.randn(features, features, generator=g) / math.sqrt(features)
    x = latent @ (torch.eye(features) + mix)  # correlated columns
    warp = torch.randint(0, 6, (features,), generator=g)
    x = torch.where(warp == 1, torch.exp(x.clamp(max=6) / 2), x)
    x = torch.where(warp == 2, x**3, x)
    x = torch.where(warp == 3, torch.sign(x) * torch.log1p(x.abs() * 3), x)
    x = torch.where(warp == 4, torch.erf(x), x)
    integer = torch.rand(features, generator=g) < 0.2
    x = torch.where(integer, torch.round(x * 2), x)
    if zero_inflated:  # drawn only when asked, so that v1's tables stay reproducible
        columns = torch.rand(features, generator=g) < zero_inflated
        share = 0.1 + 0.6 * torch.rand(features, generator=g)
        x = torch.where(columns & (torch.rand(rows, features, generator=g) < share), 0.0, x)
    scale = torch.exp(torch.randn(features, generator=g) * 2)  # columns on very different scales
    return x * scale + torch.randn(features, generator=g) * scale


def _scores(g: torch.Generator, x: torch.Tensor, classes: int, rule: str) -> torch.Tensor:
    z = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
    relevant = torch.rand(z.shape[1], generator=g) < min(0.7, 10 / z.shape[1])  # wide tables: ~10 relevant
    relevant[torch.randint(0, z.shape[1], (1,), generator=g)] = True
    z = z * relevant
    if rule == "linear":
        return z @ torch.randn(z.shape[1], classes, generator=g)
    if rule == "mlp":
        hidden = torch.tanh(z @ torch.randn(z.shape[1], 16, generator=g) + torch.randn(16, generator=g))
        return hidden @ torch.randn(16, classes, generator=g)
    if rule == "thresholds":
        steps = 3 * classes if classes > 1 else 12  # a regression score: enough steps for a ragged surface
        columns = torch.nonzero(relevant).flatten()
        picked = columns[torch.randint(0, len(columns), (steps,), generator=g)]
        cuts = torch.randn(steps, generator=g) * 0.8
        fired = (z[:, picked] > cuts).float()  # (rows, steps)
        return fired @ torch.randn(steps, classes, generator=g)
    centres = torch.randn(classes, z.shape[1], generator=g) * 1.5 * relevant
    return -torch.cdist(z, centres)


def _continuous(g: torch.Generator, score: torch.Tensor) -> torch.Tensor:
    """A regression target from one score: noise of a random share of its spread, then maybe a monotone warp."""
    z = (score - score.mean()) / score.std().clamp_min(1e-6)
    z = z + torch.randn(z.shape, generator=g) * 0.5 * float(torch.rand(1, generator=g))
    warp = int(torch.randint(0, 6, (1,), generator=g))
    if warp == 0:
        return torch.exp(z.clamp(max=6) * (0.3 + 0.7 * float(torch.rand(1, generator=g))))
    if warp == 1:
        return z**3
    if warp == 2:
        return (z - z.min()) ** 2
    return z * torch.exp(torch.randn(1, generator=g) * 2) + torch.randn(1, generator=g) * 10


class SyntheticBatches(TableBatches):
    """Batches of this module's tables (``settings.prior_type == "synthetic"``); items as in
    :class:`~tightfit.tabular.prior.TableBatches`."""

    def _draw(self, seed: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        s = self.settings
        g = torch.Generator().manual_seed(seed % 2**63)
        rows = int(torch.randint(s.min_rows, s.max_rows + 1, (1,), generator=g))
        if s.max_cells is None:
            features = int(torch.randint(s.min_features, s.max_features + 1, (1,), generator=g))
        else:  # log-uniform width, rows cut to the cell budget
            span = math.log(s.max_features + 1) - math.log(s.min_features)
            features = min(s.max_features, int(s.min_features * math.exp(span * float(torch.rand(1, generator=g)))))
            rows = max(s.min_rows, min(rows, s.max_cells // (features + 1)))
        n_context = int(rows * (0.5 + 0.4 * float(torch.rand(1, generator=g))))
        xs, ys = [], []
        for _ in range(s.tables):
            two = float(torch.rand(1, generator=g)) < 0.5
            classes = 2 if two else int(torch.randint(2, s.max_classes + 1, (1,), generator=g))
            x = _features(g, rows, features, s.zero_inflated)
            rule = RULES[int(torch.randint(0, len(RULES), (1,), generator=g))]
            if s.task == "regression":
                xs.append(x)
                ys.append(_continuous(g, _scores(g, x, 1, rule)[:, 0]))
                continue
            scores = _scores(g, x, classes, rule)
            y = (scores + 0.1 * torch.randn(scores.shape, generator=g)).argmax(1)
            flip = torch.rand(rows, generator=g) < 0.2 * float(torch.rand(1, generator=g))
            y = torch.where(flip, torch.randint(0, classes, (rows,), generator=g), y)
            xs.append(x)
            ys.append(y)
        return torch.stack(xs), torch.stack(ys), n_context
