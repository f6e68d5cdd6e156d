"""Data-parallel training under ``torch.distributed``: the process group a launcher sets up, and the few
collectives the engine needs to keep every rank in step.

``torchrun --nproc-per-node N`` and ``accelerate launch`` both describe the group in the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); :func:`join_process_group`
reads it and initialises gloo on the CPU or NCCL on CUDA. The engine then wraps the model in
``DistributedDataParallel`` and gives each rank its share of one global permutation of the rows
(:class:`~tightfit.train.data.StepBatches`), so that a 2-rank run sees the same global batches as a 1-rank
run with the same seed.

Gradients are averaged *after* the ranks agree the step went well: every micro-step runs under
``no_sync()`` and one all-reduce follows (:func:`average_gradients`). Letting the last micro-step's backward
synchronise would overlap communication with compute, but a rank that runs out of memory mid-backward
would then leave the others waiting in a collective it never joins (fairseq keeps a non-overlapping
all-reduce for the same reason). Agreement first is what makes the out-of-memory back-off safe.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn

from tightfit.errors import ConfigError

__all__ = [
    "ENV_VARS",
    "World",
    "agree_any",
    "all_sum",
    "average_buffers",
    "average_gradients",
    "barrier",
    "full_state",
    "gather_objects",
    "join_process_group",
    "launched_world_size",
    "load_full_state",
    "sync_context",
    "wrap_model",
]

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
FSDP_ON_CPU = (
    "FSDP needs CUDA: PyTorch does not support it on the CPU (pytorch/pytorch#106099) and fully_shard over "
    "gloo crashes (#132471). Use shard='ddp' on the CPU, or run on GPUs."
)


@dataclass(frozen=True)
class World:
    """Where this process sits: its rank, how many ranks there are, and its device."""

    rank: int = 0
    size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    distributed: bool = False  # joined a process group (a 1-rank FSDP run is in one too)

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, ``run.json`` and shows progress."""
        return self.rank == 0


def launched_world_size() -> int:
    """``WORLD_SIZE`` from the launcher's environment (1 when not launched by one)."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"the environment's WORLD_SIZE={value!r} is not an integer.") from None


def join_process_group(device_type: str, shard: str | None) -> World:
    """Join (or reuse) the process group the launcher described, on ``device_type`` ("cpu" or "cuda").

    ``shard=None`` trains data-parallel when the environment holds more than one rank and alone otherwise;
    ``"ddp"``/``"fsdp"`` insist on a group, and ``"fsdp"`` on CUDA.
    """
    size = launched_world_size()
    if shard == "fsdp" and device_type != "cuda":
        raise ConfigError(f"TrainConfig(shard='fsdp') on the {device_type}: {FSDP_ON_CPU}")
    missing = [name for name in ENV_VARS if name not in os.environ]
    if not dist.is_initialized() and (size <= 1 if shard is None else missing):
        if shard is not None:
            raise ConfigError(
                f"TrainConfig(shard={shard!r}) needs a process group, and this process was not launched into one "
                f"(missing {', '.join(missing) or 'WORLD_SIZE > 1'}). Launch with `torchrun --nproc-per-node N "
                "script.py` or `accelerate launch`, or set shard=None to train on one device."
            )
        return World(device=torch.device(device_type))
    if not dist.is_initialized():
        if missing:
            raise ConfigError(
                f"WORLD_SIZE={size} but the environment lacks {', '.join(missing)}: launch with torchrun or "
                "accelerate launch, which set them."
            )
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=10))
    rank, size = dist.get_rank(), dist.get_world_size()
    if device_type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", rank % max(torch.cuda.device_count(), 1)))
        torch.cuda.set_device(local)
        return World(rank, size, torch.device("cuda", local), distributed=True)
    return World(rank, size, torch.device("cpu"), distributed=True)


def all_sum(values: list[float], world: World) -> list[float]:
    """Sum ``values`` over the ranks (one all-reduce of a small float64 tensor)."""
    if not world.distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=_comm_device(world))
    dist.all_reduce(tensor)
    return tensor.tolist()


def agree_any(flag: bool, world: World) -> bool:
    """True on every rank when it is true on any: a decision (out of memory, out of time) all ranks take."""
    return all_sum([float(flag)], world)[0] > 0


def average_gradients(parameters: list[nn.Parameter], world: World, weight: float, total: float) -> None:
    """Make each gradient the mean over every rank's rows: this rank's (the mean over its ``weight`` rows)
    times ``weight``, summed over the ranks, over ``total`` rows — one all-reduce per dtype of a flat buffer."""
    if not world.distributed:
        return
    _all_reduce_mean([_grad(p) for p in parameters], scale=weight / total)


def average_buffers(model: nn.Module, world: World) -> None:
    """Average floating-point buffers (BatchNorm's running statistics) over the ranks after a step, so every
    rank holds the same model and rank 0's checkpoint describes it."""
    if not world.distributed:
        return
    buffers = [b for b in model.buffers() if b.is_floating_point()]
    if buffers:
        _all_reduce_mean(buffers, scale=1 / world.size)


def wrap_model(model: nn.Module, world: World, shard: str | None) -> nn.Module:
    """``model`` itself on one rank; else ``DistributedDataParallel`` (which makes every rank start from rank
    0's weights) or, with ``shard="fsdp"``, FSDP2's ``fully_shard`` on each repeated block and the root."""
    if not world.distributed:
        return model
    if shard == "fsdp":
        return _fully_shard(model)
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [world.device.index] if world.device.type == "cuda" else None
    # buffers start as rank 0's, then are averaged after each step instead of broadcast in every forward: a
    # forward must not wait on a collective, as ranks may run different numbers of micro-steps
    return DistributedDataParallel(model, device_ids=device_ids, forward_sync_buffers=False)


def sync_context(net: nn.Module, world: World, shard: str | None, last: bool):
    """The context of one micro-step: alone, none; DDP never synchronises inside one (the ranks agree first,
    then :func:`average_gradients`); FSDP reduce-scatters its gradient shards in the last micro-step only."""
    if not world.distributed:
        return contextlib.nullcontext()
    if shard == "fsdp":
        net.set_requires_gradient_sync(last)
        return contextlib.nullcontext()
    return net.no_sync()


def _fully_shard(model: nn.Module) -> nn.Module:
    from torch.distributed.fsdp import fully_shard

    from tightfit.train.techniques.checkpointing import find_repeated_blocks

    for name in find_repeated_blocks(model):
        fully_shard(model.get_submodule(name))
    return fully_shard(model)


def _grad(p: nn.Parameter) -> torch.Tensor:
    if p.grad is None:
        p.grad = torch.zeros_like(p)  # a rank whose rows skipped a branch (or had none) still joins the sum
    return p.grad


def _all_reduce_mean(tensors: list[torch.Tensor], scale: float) -> None:
    """Sum ``tensors`` over the ranks and multiply by ``scale``, in place, one flat buffer per dtype."""
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype, []).append(t)
    for group in by_dtype.values():
        flat = torch.cat([t.detach().reshape(-1) for t in group]).mul_(scale)  # one copy of the group, no more
        dist.all_reduce(flat)
        offset = 0
        for t in group:
            t.detach().copy_(flat[offset : offset + t.numel()].view_as(t))
            offset += t.numel()


def full_state(model: nn.Module, optimizer, shard: str | None) -> tuple[dict, dict]:
    """The whole state of ``model`` (never a DDP wrapper: ``fully_shard`` converts the model itself) and of the
    optimizer, on every rank (FSDP's shards gathered: a collective then)."""
    if shard != "fsdp":
        return model.state_dict(), optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    return get_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_full_state(model: nn.Module, optimizer, shard: str | None, model_state: dict, optimizer_state: dict) -> None:
    """Load what :func:`full_state` returned into ``model`` and ``optimizer`` (FSDP: each rank keeps its shard)."""
    if shard != "fsdp":
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optimizer_state,
                   options=StateDictOptions(full_state_dict=True))  # fmt: skip


def gather_objects(value, world: World) -> list:
    """``value`` from every rank, in rank order (for per-rank RNG states in a checkpoint)."""
    if not world.distributed:
        return [value]
    gathered = [None] * world.size
    dist.all_gather_object(gathered, value)
    return gathered


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def _comm_device(world: World) -> torch.device:
    """NCCL reduces CUDA tensors only; gloo takes CPU ones."""
    return world.device if world.device.type == "cuda" else torch.device("cpu")
