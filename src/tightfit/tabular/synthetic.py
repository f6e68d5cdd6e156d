"""tightfit's own prior: small, fast-to-learn synthetic classification tables, generated in milliseconds.

Each table draws correlated features (a random linear mix of Gaussians, some columns passed through a
monotone warp — exp, cube, log-magnitude, uniform — and some rounded to integers like counts or codes), a
subset of them relevant, and one labelling rule:

- ``linear``: the argmax of random linear scores of the relevant features;
- ``mlp``: the argmax of a random one-hidden-layer tanh network;
- ``thresholds``: the argmax of sums of random axis-aligned threshold steps (tree-like);
- ``clusters``: the nearest of random class centres.

Then a fraction of labels (0-20%) is flipped at random. This prior exists because on 2 CPU cores
TabICL's structural-causal prior (about 1 s per batch of 32 tables in one thread) left the model at the
class-frequency loss after 450 steps, while tables like these teach in-context classification within a few
hundred steps (measured; see the README's tabular section).
"""

from __future__ import annotations

import math

import torch

from tightfit.tabular.prior import TableBatches

__all__ = ["RULES", "SyntheticBatches"]

RULES = ("linear", "mlp", "thresholds", "clusters")


def _features(g: torch.Generator, rows: int, features: int) -> torch.Tensor:
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
    scale = torch.exp(torch.randn(features, generator=g) * 2)  # columns on very different scales
    return x * scale + torch.randn(features, generator=g) * scale


def _scores(g: torch.Generator, x: torch.Tensor, classes: int, rule: str) -> torch.Tensor:
    z = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
    relevant = torch.rand(z.shape[1], generator=g) < 0.7
    relevant[torch.randint(0, z.shape[1], (1,), generator=g)] = True
    z = z * relevant
    if rule == "linear":
        return z @ torch.randn(z.shape[1], classes, generator=g)
    if rule == "mlp":
        hidden = torch.tanh(z @ torch.randn(z.shape[1], 16, generator=g) + torch.randn(16, generator=g))
        return hidden @ torch.randn(16, classes, generator=g)
    if rule == "thresholds":
        steps = 3 * classes
        columns = torch.nonzero(relevant).flatten()
        picked = columns[torch.randint(0, len(columns), (steps,), generator=g)]
        cuts = torch.randn(steps, generator=g) * 0.8
        fired = (z[:, picked] > cuts).float()  # (rows, steps)
        return fired @ torch.randn(steps, classes, generator=g)
    centres = torch.randn(classes, z.shape[1], generator=g) * 1.5 * relevant
    return -torch.cdist(z, centres)


class SyntheticBatches(TableBatches):
    """Batches of this module's tables (``settings.prior_type == "synthetic"``); items as in
    :class:`~tightfit.tabular.prior.TableBatches`."""

    def _draw(self, seed: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        s = self.settings
        g = torch.Generator().manual_seed(seed % 2**63)
        rows = int(torch.randint(s.min_rows, s.max_rows + 1, (1,), generator=g))
        features = int(torch.randint(s.min_features, s.max_features + 1, (1,), generator=g))
        n_context = int(rows * (0.5 + 0.4 * float(torch.rand(1, generator=g))))
        xs, ys = [], []
        for _ in range(s.tables):
            two = float(torch.rand(1, generator=g)) < 0.5
            classes = 2 if two else int(torch.randint(2, s.max_classes + 1, (1,), generator=g))
            x = _features(g, rows, features)
            rule = RULES[int(torch.randint(0, len(RULES), (1,), generator=g))]
            scores = _scores(g, x, classes, rule)
            y = (scores + 0.1 * torch.randn(scores.shape, generator=g)).argmax(1)
            flip = torch.rand(rows, generator=g) < 0.2 * float(torch.rand(1, generator=g))
            y = torch.where(flip, torch.randint(0, classes, (rows,), generator=g), y)
            xs.append(x)
            ys.append(y)
        return torch.stack(xs), torch.stack(ys), n_context
