"""The training techniques the planner can try, registered once by id.

Each is a :class:`SearchKnob`: the ``TrainConfig`` settings it offers for a model (``options``) and how many
slow-downs a setting costs against the user's recipe (``cost``), so the planner enumerates the product of all
registered knobs cheapest first. Adding a technique is a module that transforms the model or the step, its
``TrainConfig`` field, and one ``TECHNIQUES.register`` line here (see ``docs/extending.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tightfit.registry import Registry
from tightfit.train.techniques.checkpointing import find_repeated_blocks
from tightfit.train.techniques.lora import LoraSpec

__all__ = ["TECHNIQUES", "SearchKnob"]

Options = Callable[[Any, Any, str], list[dict[str, Any]]]  # (model, base config, device) -> field overrides


@dataclass(frozen=True)
class SearchKnob:
    """``options(model, base, device)``: the settings to enumerate (empty: set by rule, not enumerated);
    ``cost(config, base, device)``: slow-downs of ``config``'s setting against the base recipe on ``device``
    (0 = none)."""

    options: Options
    cost: Callable[[Any, Any, str], float]


def _halvings(effective: int, limit: int = 6) -> list[int]:
    sizes, size = [], effective
    while size >= 1 and len(sizes) < limit:
        if effective % size == 0:
            sizes.append(size)
        size //= 2
    return sizes


# bf16 autocast on a CPU without bf16 instructions (no avx512_bf16/AMX) is emulated: a ResidualMLP step at 16k rows
# took 88 s for 2 steps in bf16 against ~7 s in fp32 on an AVX2 EPYC, so it ranks after every fp32 recipe
EMULATED_BF16_COST = 12.0


def _native_half(precision: str, device: str) -> bool:
    """Whether ``precision`` runs natively on ``device``: fp16 on any CUDA GPU; bf16 where
    :meth:`~tightfit.hardware.Hardware.native_bf16` says so (a T4 or V100 emulates it)."""
    from tightfit.hardware import Hardware

    return (device.startswith("cuda") and precision == "fp16") or Hardware.probe().native_bf16(device)


TECHNIQUES: Registry[SearchKnob] = Registry("training technique")

TECHNIQUES.register("precision", SearchKnob(
    options=lambda model, base, device: [{"precision": p} for p in ["fp32", "bf16"] + (["fp16"] if
                                         device.startswith("cuda") else [])],
    cost=lambda c, base, device: 0.0 if c.precision == "fp32" else
    (0.5 if _native_half(c.precision, device) else EMULATED_BF16_COST),
), relaxes=("memory", "time"), rank=1, summary="bf16 autocast (fp16 with a GradScaler on CUDA)")  # fmt: skip
TECHNIQUES.register("micro_batch", SearchKnob(
    options=lambda model, base, device: [{"micro_batch": m, "accumulation": base.effective_batch // m}
                                         for m in _halvings(base.effective_batch)],
    cost=lambda c, base, device: math.log2(c.accumulation),
), relaxes=("memory", "time"), rank=2, summary="smaller micro-batches with gradient accumulation (same effective "
   "batch); larger ones for time")  # fmt: skip
TECHNIQUES.register("checkpointing", SearchKnob(
    options=lambda model, base, device: [{"checkpointing": False}] + ([{"checkpointing": True}]
                                         if find_repeated_blocks(model) else []),
    cost=lambda c, base, device: 2.0 * bool(c.checkpointing),
), relaxes=("memory",), rank=3, summary="activation checkpointing of the repeated blocks")  # fmt: skip
TECHNIQUES.register("lora", SearchKnob(
    options=lambda model, base, device: [{"lora": None}, {"lora": LoraSpec(r=8, alpha=16)}],
    cost=lambda c, base, device: 1.0 * (c.lora is not None),
), relaxes=("memory", "data"), rank=4, summary="LoRA adapters through PEFT, the base frozen")  # fmt: skip
TECHNIQUES.register(
    "optimizer",
    SearchKnob(
        options=lambda model, base, device: [{"optimizer": o} for o in dict.fromkeys([base.optimizer, "adafactor"])],
        cost=lambda c, base, device: 1.0 * (c.optimizer != base.optimizer),
    ),
    relaxes=("memory",),
    rank=5,
    summary="a low-memory optimizer: adafactor (or adamw8bit with bitsandbytes)",
)
TECHNIQUES.register(
    "release_memory",
    SearchKnob(
        options=lambda model, base, device: [],  # set by the planner's rule on the CPU, never enumerated
        cost=lambda c, base, device: 0.0,
    ),
    relaxes=("memory", "ram"),
    rank=6,
    summary="CPU/glibc: freed tensors go back to the OS at once (steady RSS)",
)
