"""LoRA: low-rank adapters injected with the ``peft`` library into any ``nn.Module``; base weights frozen.

``target_modules=None`` adapts every ``nn.Linear`` and every ``nn.MultiheadAttention`` (whose projections
PyTorch uses as raw weights, so PEFT's attention-specific layer is needed for the adapters to take part
in the forward pass; the attention's own ``out_proj`` is therefore not targeted as a Linear).
PyTorch's fused inference fast path of ``nn.TransformerEncoderLayer`` is switched off on adapted layers,
since it reads raw weights and would silently skip the adapters at predict time.
An attention subclass with its own forward (TabICL's, which hands ``in_proj_weight`` and ``out_proj.weight``
to its own functional attention) is outside what PEFT's wrappers reach: its output stays unchanged whatever
the adapters learn (TabTune's LoRA bug). Those two weights get a low-rank *parametrization* instead
(:class:`LowRankDelta`, through ``torch.nn.utils.parametrize``): every read of the weight returns
``W + B A * alpha / r``, whichever function reads it.
Freezing is by structure: after injection exactly the adapter parameters (and those of
``trainable_modules``, such as a classification head) require gradients.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from torch import nn

from tightfit.errors import ConfigError, bad_param
from tightfit.params import Interval, check

__all__ = ["LoraApplied", "LoraSpec", "LowRankDelta", "apply_lora_", "merge_lora_"]


@dataclass(frozen=True)
class LoraSpec:
    """Settings of a LoRA adapter (validated here, where they are typed).

    Parameters
    ----------
    r : int, default=8
        Rank of the update ``B @ A``; trainable parameters grow linearly with it.
    alpha : float, default=16
        Scale numerator: the update is multiplied by ``alpha / r``.
    dropout : float, default=0.0
        Dropout on the adapter's input, in ``[0, 1)``.
    target_modules : None, str or sequence of str, default=None
        ``None``: every ``nn.MultiheadAttention`` and every ``nn.Linear`` that keeps Linear's own forward.
        A list matches module names exactly or by dotted suffix; a string is a full regular expression.
    trainable_modules : sequence of str, default=()
        Modules trained in full beside the adapters (e.g. a freshly initialised head), matched like a list.
    """

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: tuple[str, ...] | str | None = None
    trainable_modules: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        check(
            "LoraSpec",
            r=(self.r, Interval(int, 1, what="an int >= 1 (use lora=None for full fine-tuning)")),
            alpha=(self.alpha, Interval(float, 0, closed="right", what="a positive number")),
            dropout=(self.dropout, Interval(float, 0, 1, closed="left", what="a float in [0, 1)")),
        )
        targets = self.target_modules
        if targets is not None and not isinstance(targets, str):
            if not isinstance(targets, Sequence) or not targets or not all(isinstance(t, str) for t in targets):
                raise bad_param("target_modules", "LoraSpec", "None, a regex string or a list of module names", targets)
            object.__setattr__(self, "target_modules", tuple(targets))
        if isinstance(targets, str):
            try:
                re.compile(targets)
            except re.error as exc:
                raise bad_param("target_modules", "LoraSpec", f"a valid regular expression ({exc})", targets) from None
        trainable = self.trainable_modules
        if isinstance(trainable, str) or not all(isinstance(t, str) for t in trainable):
            raise bad_param("trainable_modules", "LoraSpec", "a list of module names", trainable)
        object.__setattr__(self, "trainable_modules", tuple(trainable))

    @classmethod
    def coerce(cls, value: LoraSpec | dict | None) -> LoraSpec | None:
        """Accept a ``LoraSpec``, a dict of its fields (``lora_alpha``/``lora_dropout`` aliases too) or None."""
        if value is None or isinstance(value, LoraSpec):
            return value
        if isinstance(value, dict):
            aliases = {"lora_alpha": "alpha", "lora_dropout": "dropout", "modules_to_save": "trainable_modules"}
            fields = {aliases.get(k, k): v for k, v in value.items()}
            unknown = sorted(set(fields) - set(cls.__dataclass_fields__))
            if unknown:
                raise bad_param(
                    "lora", "TrainConfig", f"a LoraSpec or a dict of {sorted(cls.__dataclass_fields__)}", unknown[0]
                )
            return cls(**fields)
        raise bad_param("lora", "TrainConfig", "None, a LoraSpec or a dict of its fields", value)


@dataclass(frozen=True)
class LoraApplied:
    """What :func:`apply_lora_` did: the adapted module names and the parameter counts after freezing."""

    targets: tuple[str, ...]
    trainable_params: int
    total_params: int


def _matches(name: str, patterns: tuple[str, ...] | str) -> bool:
    if isinstance(patterns, str):
        return re.fullmatch(patterns, name) is not None
    return any(name == p or name.endswith("." + p) for p in patterns)


class LowRankDelta(nn.Module):
    """A parametrization ``W -> W + B @ A * (alpha / r)``; ``B`` starts at zero, so the model starts unchanged."""

    def __init__(self, weight: nn.Parameter, r: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        rows, cols = weight.shape
        self.lora_A = nn.Parameter(weight.new_empty(r, cols))
        nn.init.kaiming_uniform_(self.lora_A, a=5**0.5)
        self.lora_B = nn.Parameter(weight.new_zeros(rows, r))
        self.scaling = alpha / r
        self.dropout = nn.Dropout(dropout)

    def forward(self, weight):
        return weight + (self.lora_B @ self.dropout(self.lora_A)) * self.scaling


def _raw_weight_attention(model: nn.Module) -> list[str]:
    """Attention modules whose class replaces ``nn.MultiheadAttention.forward`` (and reads the raw weights)."""
    return [
        n
        for n, m in model.named_modules()
        if isinstance(m, nn.MultiheadAttention) and type(m).forward is not nn.MultiheadAttention.forward
    ]


def _parametrize_attention_(model: nn.Module, names: list[str], spec: LoraSpec) -> list[nn.Parameter]:
    from torch.nn.utils import parametrize

    adapters = []
    for name in names:
        attention = model.get_submodule(name)
        for owner, weight_name in ((attention, "in_proj_weight"), (attention.out_proj, "weight")):
            delta = LowRankDelta(getattr(owner, weight_name), spec.r, spec.alpha, spec.dropout)
            parametrize.register_parametrization(owner, weight_name, delta)
            adapters += [delta.lora_A, delta.lora_B]
    return adapters


def _default_targets(model: nn.Module) -> list[str]:
    raw = tuple(_raw_weight_attention(model))
    attention = [n for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention) and n not in raw]
    inside_attention = tuple(a + "." for a in (*attention, *raw) if a)
    # A Linear subclass with its own forward transforms its input first (TabICL's OneHotAndLinear one-hot
    # encodes labels): an adapter on the raw input would not match, so only plain Linear layers qualify.
    linears = [
        n
        for n, m in model.named_modules()
        if isinstance(m, nn.Linear)
        and type(m).forward is nn.Linear.forward
        and n
        and not (inside_attention and n.startswith(inside_attention))
    ]
    return attention + linears


def apply_lora_(model: nn.Module, spec: LoraSpec) -> LoraApplied:
    """Inject LoRA adapters into ``model`` in place and freeze everything else; return what changed.

    Raises ``ConfigError`` naming the existing Linear/attention modules when ``target_modules`` matches none.
    """
    from peft import LoraConfig, inject_adapter_in_model

    candidates = _default_targets(model)
    raw_attention = _raw_weight_attention(model)
    if spec.target_modules is None:
        targets, parametrized = candidates, raw_attention
    else:
        matched = [n for n, _ in model.named_modules() if n and _matches(n, spec.target_modules)]
        parametrized = [n for n in matched if n in raw_attention]
        targets = [n for n in matched if n not in parametrized]
    if not targets and not parametrized:
        raise ConfigError(
            f"target_modules={spec.target_modules!r} matched no module of {type(model).__name__}; "
            f"Linear and attention modules are: {', '.join(repr(c) for c in candidates) or 'none'}."
        )
    trainable_roots = [
        n for n, _ in model.named_modules() if n and spec.trainable_modules and _matches(n, spec.trainable_modules)
    ]
    if spec.trainable_modules and not trainable_roots:
        raise ConfigError(
            f"trainable_modules={list(spec.trainable_modules)!r} matched no module of {type(model).__name__}."
        )
    keep = {id(p) for root in trainable_roots for p in model.get_submodule(root).parameters()}
    if targets:
        config = LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout, target_modules=targets)
        inject_adapter_in_model(config, model)
    adapter_ids = {id(p) for p in _parametrize_attention_(model, parametrized, spec)}
    adapter_ids |= {
        id(p)
        for name, module in model.named_modules()
        if name.split(".")[-1] in ("lora_A", "lora_B")
        for p in module.parameters()
    }
    for module in model.modules():
        if isinstance(module, nn.TransformerEncoderLayer):
            # The fused inference fast path of TransformerEncoder(Layer) reads the raw projection weights and
            # would skip the adapters in eval mode; this instance flag is one of the conditions it checks.
            module.activation_relu_or_gelu = False
    for param in model.parameters():  # freeze by structure, not by name
        param.requires_grad_(id(param) in adapter_ids or id(param) in keep)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return LoraApplied(targets=tuple(targets + parametrized), trainable_params=trainable, total_params=total)


def merge_lora_(model: nn.Module) -> int:
    """Fold every LoRA adapter into its base layer (``W += B A * alpha / r``) and put the base layer back in
    place, so the model has its original structure (and state-dict keys) again; every parameter is left
    trainable. Returns the number of layers merged. Inference is as fast as the original model's afterwards.
    """
    from peft.tuners.lora import LoraLayer
    from torch.nn.utils import parametrize

    merged = 0
    for module in list(model.modules()):
        for weight_name in list(getattr(module, "parametrizations", {}) or {}):
            if any(isinstance(p, LowRankDelta) for p in module.parametrizations[weight_name]):
                parametrize.remove_parametrizations(module, weight_name, leave_parametrized=True)
                merged += 1
    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer) and name:
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
            merged += 1
    for param in model.parameters():
        param.requires_grad_(True)
    return merged
