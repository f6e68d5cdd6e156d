"""Per-rank memory of data-parallel training, without the devices: DDP replicates, FSDP shards.

A rank of a data-parallel run does the work of a one-device run with its own micro-batch, so the engine's
fake-tensor step (:func:`~tightfit.plan.estimate.estimate`) prices its activations; what changes with the
world size is the *model state* — parameters, gradients and optimizer state — which this module prices by
arithmetic:

- ``"ddp"`` (``DistributedDataParallel``): every rank holds all of it, plus the reducer's gradient buckets
  (a second copy of the gradients) and the flat buffer tightfit all-reduces them in (a third, briefly).
- ``"fsdp"`` (FSDP2 ``fully_shard`` on each repeated block and the root): parameters, gradients and optimizer
  state are split over the ranks; a block's parameters are gathered whole for its forward and backward,
  and the next one is prefetched, so two of the largest unit's parameters and one's gradients are whole.

The same arithmetic, set to DeepSpeed's mixed-precision recipe (:data:`DEEPSPEED_RECIPE`), reproduces its ZeRO
estimators (``estimate_zero2_model_states_mem_needs`` with one GPU for replication,
``estimate_zero3_model_states_mem_needs`` without offload for full sharding): tests/plan/test_sharding.py
holds them side by side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from tightfit.errors import bad_param
from tightfit.params import Interval, Options, check
from tightfit.train.config import SHARDS, TrainConfig
from tightfit.train.techniques.checkpointing import find_repeated_blocks

__all__ = ["DEEPSPEED_RECIPE", "Recipe", "ShardedStates", "engine_recipe", "largest_unit_params", "sharded_states"]


@dataclass(frozen=True)
class Recipe:
    """Bytes per parameter. Held by a replica: ``param``, ``grad``, ``optimizer`` (per trainable parameter).
    Under full sharding each rank holds its share of ``param``, ``sharded_grad`` and ``optimizer``, and a unit
    being run is whole (``unit_param`` for ``units_whole`` units, ``unit_grad`` for one). ``ddp_buffers``:
    gradient-sized communication buffers a DDP rank adds."""

    param: float
    grad: float
    optimizer: float
    unit_param: float
    unit_grad: float
    sharded_grad: float
    units_whole: int
    ddp_buffers: int


# DeepSpeed's accounting of mixed-precision Adam: fp16 weights (2) and gradients (2), and 16 bytes of fp32
# master weights, momentum, variance and gradient; under ZeRO-3 the fp16 gradient lands straight in the fp32
# partition (no fp16 gradient kept) and one layer's fp16 weights and gradients are whole (4 bytes).
DEEPSPEED_RECIPE = Recipe(param=2, grad=2, optimizer=16, unit_param=2, unit_grad=2, sharded_grad=0, units_whole=1,
                          ddp_buffers=0)  # fmt: skip


def _optimizer_bytes(config: TrainConfig) -> float:
    """Optimizer state per trainable parameter in tightfit's engine (fp32): AdamW's two moments, SGD's momentum,
    Adafactor's factored moments (about one value per row and column: counted as none here), 8-bit AdamW."""
    if config.optimizer == "adamw":
        return 8.0
    if config.optimizer == "sgd":
        return 4.0 if config.momentum > 0 else 0.0
    if config.optimizer == "adamw8bit":
        return 2.0
    return 0.0


def engine_recipe(config: TrainConfig) -> Recipe:
    """tightfit's engine: fp32 master weights and gradients (autocast computes in bf16/fp16 without keeping a
    low-precision copy) and the optimizer's state."""
    return Recipe(param=4, grad=4, optimizer=_optimizer_bytes(config), unit_param=4, unit_grad=4, sharded_grad=4,
                  units_whole=2, ddp_buffers=2)  # fmt: skip


def largest_unit_params(model: nn.Module) -> int:
    """Parameters of the largest unit FSDP gathers at once: a repeated block, or the root's own parameters
    outside the blocks (embeddings and heads), whichever is larger."""
    blocks = find_repeated_blocks(model)
    in_blocks = {id(p) for name in blocks for p in model.get_submodule(name).parameters()}
    root = sum(p.numel() for p in model.parameters() if id(p) not in in_blocks)
    return max([root, *(sum(p.numel() for p in model.get_submodule(n).parameters()) for n in blocks)])


@dataclass(frozen=True)
class ShardedStates:
    """Per-rank model-state bytes: held (parameters, gradients, optimizer), gathered (a unit's whole
    parameters and gradients under FSDP) and communication buffers (DDP's buckets and all-reduce buffer)."""

    shard: str
    world_size: int
    params: int
    grads: int
    optimizer: int
    gathered: int = 0
    buffers: int = 0

    @property
    def total(self) -> int:
        return self.params + self.grads + self.optimizer + self.gathered + self.buffers


def sharded_states(
    total_params: int,
    trainable_params: int,
    largest_unit: int,
    world_size: int,
    shard: str,
    recipe: Recipe,
) -> ShardedStates:
    """Per-rank model-state bytes of ``shard`` over ``world_size`` ranks under ``recipe``. Frozen parameters
    (LoRA's base) have no gradient or optimizer state."""
    check("sharded_states", world_size=(world_size, Interval(int, 1)), shard=(shard, Options(*SHARDS)))
    if not 0 <= trainable_params <= total_params:
        raise bad_param("trainable_params", "sharded_states", f"an int in [0, total_params={total_params}]",
                        trainable_params)  # fmt: skip
    params = total_params * recipe.param
    optimizer = trainable_params * recipe.optimizer
    if shard == "ddp":
        grads = trainable_params * recipe.grad
        return ShardedStates(shard, world_size, int(params), int(grads), int(optimizer),
                             buffers=int(recipe.ddp_buffers * grads))  # fmt: skip
    trainable_share = trainable_params / max(total_params, 1)  # a unit's frozen part is gathered without gradients
    gathered = largest_unit * (recipe.units_whole * recipe.unit_param + trainable_share * recipe.unit_grad)
    return ShardedStates(
        shard,
        world_size,
        math.ceil(params / world_size),
        math.ceil(trainable_params * recipe.sharded_grad / world_size),
        math.ceil(optimizer / world_size),
        gathered=int(gathered),
    )
