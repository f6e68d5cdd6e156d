"""Out-of-memory back-off keeps the recipe: halve micro_batch, double accumulation, same effective batch,
same step retried — simulated on the CPU with the CPU allocator's own message."""

import pytest
import torch

from tightfit import BudgetExceeded
from tightfit.train import TrainConfig, Trainer

QUIET = {"verbose": False}


def fail_when(model, too_big):
    """A forward pre-hook raising the CPU allocator's error for batches with ``too_big(rows)``; returns tried sizes."""
    tried = []

    def hook(module, inputs):
        rows = len(inputs[0])
        tried.append(rows)
        if too_big(rows):
            raise RuntimeError(
                f"[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                f"you tried to allocate {rows * 10**9} bytes. Error code 12 (Cannot allocate memory)"
            )

    model.register_forward_pre_hook(hook)
    return tried


def test_backoff_keeps_effective_batch_and_matches_a_direct_run(digits, make_net):
    X, y = digits[0][:256], digits[1][:256]
    model = make_net()
    tried = fail_when(model, lambda rows: rows >= 32)
    result = Trainer(model, None, TrainConfig(micro_batch=32, epochs=1, **QUIET)).fit((X, y))
    assert tried[:2] == [32, 16]
    assert (result.config.micro_batch, result.config.accumulation) == (16, 2)
    assert result.effective_batch == 32 == result.initial_config.effective_batch
    assert result.steps == 8  # no step lost: the failed one was retried
    assert [(e["from_micro_batch"], e["to_micro_batch"], e["step"]) for e in result.oom_events] == [(32, 16, 0)]
    assert "can't allocate memory" in result.oom_events[0]["error"]

    direct = make_net()
    Trainer(direct, None, TrainConfig(micro_batch=16, accumulation=2, epochs=1, **QUIET)).fit((X, y))
    for (name, a), b in zip(model.state_dict().items(), direct.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name


def test_backoff_sequence_halves_until_it_fits(digits, make_net):
    X, y = digits[0][:64], digits[1][:64]
    model = make_net()
    tried = fail_when(model, lambda rows: rows > 4)
    result = Trainer(model, None, TrainConfig(micro_batch=32, max_steps=1, **QUIET)).fit((X, y))
    assert tried[:4] == [32, 16, 8, 4]
    assert (result.config.micro_batch, result.config.accumulation) == (4, 8)


def test_gives_up_below_one_row_with_budget_exceeded(digits, make_net):
    X, y = digits[0][:8], digits[1][:8]
    model = make_net()
    fail_when(model, lambda rows: True)
    with pytest.raises(BudgetExceeded, match=r"out of memory at micro_batch=1.*try precision='bf16'") as info:
        Trainer(model, None, TrainConfig(micro_batch=8, **QUIET)).fit((X, y))
    assert info.value.kind == "memory"


def test_other_errors_are_not_swallowed(digits, make_net):
    model = make_net()
    model.register_forward_pre_hook(lambda m, i: (_ for _ in ()).throw(RuntimeError("mat1 and mat2 shapes")))
    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes"):
        Trainer(model, None, TrainConfig(**QUIET)).fit((digits[0][:8], digits[1][:8]))
