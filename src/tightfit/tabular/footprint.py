"""What predicting with TinyTFM needs in memory, predicted before it runs, and the settings that make it fit.

A prediction's peak is the model's weights, the encoded contexts it keeps (keys and values of every block, per
ensemble member and label coding), and the activations of one step: encoding one context, or one block of
query rows. Members the model would read identically are computed and held once (:func:`distinct_members`).
:func:`predict_peak` runs those steps of the real model at the real shapes under fake tensors
(shapes, no data), counted by the same :class:`~tightfit.measure.TensorTracker` that ``track_peak`` uses, so
the figure is the tensors' exact peak (a test holds it to the real predict's), and costs milliseconds for a
table of any size. The query rows' own copies (the float32 block, the quantile ranks of half the members)
are numpy arrays outside torch; ``numpy_bytes`` adds them.

:func:`plan_prediction` picks the settings under a memory limit, giving up what costs nothing first: the
query block shrinks (512 -> 16 rows), then the context cache goes (recomputed with each block: slower),
then ensemble members, then context rows (subsampled, stratified: both cost quality). Settings the user
fixed are not changed; when nothing fits, the plan says so with the smallest peak it found.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

import torch

from tightfit.tabular.member_rules import class_shift, one_vs_rest, quantile_transformed
from tightfit.units import format_bytes

__all__ = [
    "PredictSettings",
    "PredictionPlan",
    "distinct_members",
    "numpy_bytes",
    "plan_prediction",
    "predict_peak",
    "tensor_limit",
]

PREDICT_MARGIN = 0.10  # the share of a memory budget a prediction plan keeps free (as the training planner does)
# On the CPU a first prediction grows RSS by more than its tensors (benchmarks/tfm_memory.py, fresh children):
# about 85 MB of kernels, thread pools and arenas, and freed activations glibc keeps — up to 0.65x the tensor
# peak when a large context is encoded. A CPU plan reserves both.
PREDICT_RUNTIME_BYTES = 100 * 10**6
PREDICT_ALLOCATOR_SLACK = 0.7
MIN_CONTEXT = 32  # the planner subsamples the context no further
QUERY_BLOCKS = (512, 256, 128, 64, 32, 16)  # the classifier pads fewer rows to 16 (its _MIN_QUERY_ROWS)
_NUMPY_BYTES_PER_CELL = 4 + 8 + 8 + 4  # float32 block, float64 quantile ranks and normal scores, float32 copy


@dataclass(frozen=True)
class PredictSettings:
    """TinyTFMClassifier's memory knobs: context rows per member, query rows per block, members, cache."""

    context_rows: int
    query_block: int
    n_estimators: int
    cached: bool

    def as_params(self) -> dict[str, Any]:
        """The classifier parameters that apply these settings."""
        return {"max_context": self.context_rows, "batch_size": self.query_block,
                "n_estimators": self.n_estimators, "context_cache": self.cached}  # fmt: skip

    def label(self) -> str:
        return (f"context {self.context_rows}, block {self.query_block}, {self.n_estimators} member"
                f"{'s' if self.n_estimators > 1 else ''}, cache {'on' if self.cached else 'off'}")  # fmt: skip


@dataclass
class PredictionPlan:
    """The chosen settings (None when nothing fits), their estimated peak in bytes, the limit, and what had to
    give (``steps``: one line per knob changed from the user's setting)."""

    settings: PredictSettings | None
    peak: int
    limit: int | None
    steps: list[str] = field(default_factory=list)


def tensor_limit(memory: int, held: int, device_type: str) -> int:
    """The tensor bytes a prediction may use under ``memory`` when ``held`` is in use already: the margin kept
    free, and on the CPU the runtime reserve and the allocator's slack (see the constants above)."""
    free = int((1 - PREDICT_MARGIN) * memory) - held
    if device_type != "cpu":
        return max(free, 0)
    return max(int((free - PREDICT_RUNTIME_BYTES) / (1 + PREDICT_ALLOCATOR_SLACK)), 0)


def numpy_bytes(query_block: int, n_features: int) -> int:
    """The query block's numpy copies: float32 rows, quantile ranks and normal scores (float64), float32 view."""
    return query_block * n_features * _NUMPY_BYTES_PER_CELL


def distinct_members(
    s: PredictSettings,
    config,
    n_classes: int,
    n_context: int | None,
    multiclass: str = "auto",
    shared_inputs: bool = True,
) -> int:
    """The members an in-context estimator computes under ``s`` (``InContextEstimator._distinct``): when the
    context holds every one of the ``n_context`` labelled rows (``None``, unknown: every member counts), the model
    has one cell per token and every member reads the same inputs (``shared_inputs``: not random column subsets),
    members differ only by their class shift and whether they quantile-transform (:mod:`member_rules`): one each
    per distinct pair."""
    if n_context is None or n_context > s.context_rows or config.features_per_token != 1 or not shared_inputs:
        return s.n_estimators
    ovr = one_vs_rest(n_classes, config.max_classes, multiclass)
    return len({(class_shift(m, n_classes, ovr), quantile_transformed(m, s.context_rows))
                for m in range(s.n_estimators)})  # fmt: skip


def _codings(n_classes: int, max_classes: int, multiclass: str) -> int:
    """Contexts per member: one, or one binary context per class when one-vs-rest."""
    return n_classes if one_vs_rest(n_classes, max_classes, multiclass) else 1


def cache_bytes(config, context_rows: int, n_features: int, contexts: int) -> int:
    """Keys and values of every block for ``contexts`` encoded contexts of a TinyTFM with ``config``, float32."""
    return contexts * config.n_layers * 2 * context_rows * (n_features + 1) * config.d_model * 4


def predict_peak(
    model,
    settings: PredictSettings,
    n_features: int,
    n_classes: int,
    device: str = "cpu",
    multiclass: str = "auto",
    n_context: int | None = None,
    shared_inputs: bool = True,
) -> int:
    """Peak tensor bytes of predicting with ``model`` (a TinyTFM) under ``settings``; see the module docstring.
    ``n_context``: the labelled rows (``None``, unknown: every member counted as distinct); ``shared_inputs``: see
    :func:`distinct_members`."""
    return _fake_run(_FakeTwin(model), settings, n_features, n_classes, torch.device(device).type, multiclass,
                     n_context, shared_inputs)  # fmt: skip


class _FakeTwin:
    """The model with fake weights, made once and reused for every settings a plan tries."""

    def __init__(self, model) -> None:
        from torch._subclasses.fake_tensor import FakeTensorMode

        from tightfit.plan.estimate import _fake_model

        self.config = model.config
        self.mode = FakeTensorMode(allow_non_fake_inputs=True)
        self.model = _fake_model(model, self.mode)


def _fake_run(
    twin: _FakeTwin,
    s: PredictSettings,
    n_features: int,
    n_classes: int,
    device: str,
    multiclass: str,
    n_context: int | None,
    shared_inputs: bool,
) -> int:
    """Encode one context while the other (distinct) members' caches are held, then predict one query block."""
    from tightfit.measure.tracker import TensorTracker

    fake, rows = twin.model, s.context_rows
    codings = _codings(n_classes, twin.config.max_classes, multiclass)
    members = distinct_members(s, twin.config, n_classes, n_context, multiclass, shared_inputs)
    tracker = TensorTracker(device=device)
    with torch.inference_mode(), twin.mode, tracker:
        context = torch.empty(1, rows, n_features, device=device)
        labels = torch.zeros(1, rows, dtype=torch.long, device=device)
        query = torch.empty(1, max(s.query_block, QUERY_BLOCKS[-1]), n_features, device=device)
        # what the other members hold meanwhile: their context rows and labels, and (cached) their encodings
        held = (members - 1) * rows * (4 * n_features + 8 * codings)
        held += cache_bytes(twin.config, rows, n_features, members * codings - 1) if s.cached else 0
        others = torch.empty(held, dtype=torch.uint8, device=device)
        if s.cached:
            fake.forward_queries(fake.encode_context(context, labels), query)
        else:
            fake(torch.cat([context, query], dim=1), labels)
        del others
    return tracker.peak


def plan_prediction(
    model,
    n_context: int,
    n_features: int,
    n_classes: int,
    limit: int | None,
    wanted: PredictSettings,
    fixed: frozenset[str] = frozenset(),
    device: str = "cpu",
    multiclass: str = "auto",
    shared_inputs: bool = True,
) -> PredictionPlan:
    """The settings closest to ``wanted`` whose estimated peak (tensors + numpy block) is at most ``limit``.

    ``n_context`` is the number of labelled rows (the context cannot be larger); ``fixed`` names the
    :meth:`PredictSettings.as_params` keys the user set, which the plan keeps; ``shared_inputs``: see
    :func:`distinct_members`.
    """
    start = dataclasses.replace(wanted, context_rows=min(wanted.context_rows, n_context))
    twin = _FakeTwin(model)

    @functools.cache
    def cost(s: PredictSettings) -> int:
        tensors = _fake_run(twin, s, n_features, n_classes, device, multiclass, n_context, shared_inputs)
        return tensors + numpy_bytes(s.query_block, n_features)

    if limit is None or cost(start) <= limit:
        return PredictionPlan(start, cost(start), limit)
    smallest = None
    for blocks in _candidates(start, fixed):
        # the peak grows with the block: when the smallest block does not fit, no larger one will
        low = cost(blocks[-1])
        if smallest is None or low < cost(smallest):
            smallest = blocks[-1]
        if low > limit:
            continue
        chosen = next(s for s in blocks if cost(s) <= limit)
        return PredictionPlan(chosen, cost(chosen), limit, _steps(start, chosen))
    least = cost(smallest)
    why = f"the smallest found, {smallest.label()}, needs {format_bytes(least)} > {format_bytes(limit)}"
    return PredictionPlan(None, least, limit, [why])


def _halvings(value: int, floor: int) -> list[int]:
    out = [value]
    while out[-1] // 2 >= floor:
        out.append(out[-1] // 2)
    return out


def _candidates(start: PredictSettings, fixed: frozenset[str]):
    """Settings in the order of what they give up, quality last (context, members) and speed first (cache, block
    size); one list per (context, members, cache), its blocks largest first."""
    contexts = [start.context_rows] if "max_context" in fixed else _halvings(start.context_rows, MIN_CONTEXT)
    members = [start.n_estimators] if "n_estimators" in fixed else _halvings(start.n_estimators, 1)
    caches = [start.cached] if "context_cache" in fixed or not start.cached else [True, False]
    blocks = [start.query_block] if "batch_size" in fixed else [b for b in QUERY_BLOCKS if b <= start.query_block]
    for context in contexts:
        for n in members:
            for cached in caches:
                yield [PredictSettings(context, block, n, cached) for block in blocks or [start.query_block]]


def _steps(start: PredictSettings, chosen: PredictSettings) -> list[str]:
    names = {"context_rows": "context rows", "query_block": "query block", "n_estimators": "ensemble members",
             "cached": "context cache"}  # fmt: skip
    changed = [f.name for f in dataclasses.fields(PredictSettings) if getattr(start, f.name) != getattr(chosen, f.name)]
    steps = [f"{names[name]} {getattr(start, name)} -> {getattr(chosen, name)}" for name in changed]
    if start.cached and not chosen.cached:  # the cost the user should know: the context runs again per block
        work = (chosen.context_rows + chosen.query_block) / chosen.query_block
        steps[-1] += f" (each block of {chosen.query_block} rows runs the context again: ~{work:.0f}x the work per row)"
    return steps


def smallest_predict_bytes(model) -> int:
    """The least a TinyTFM prediction can take: its weights and one row against a two-row, one-feature context."""
    return predict_peak(model, PredictSettings(2, 1, 1, cached=False), n_features=1, n_classes=2)
