"""Per-rank memory of DDP and FSDP without the devices: the model-state arithmetic reproduces DeepSpeed's ZeRO
estimators on three architectures, and ``estimate(world_size=N)`` splits (FSDP) or keeps (DDP) the step's
model state."""

import pytest
from zoo import ZOO

from tightfit import ConfigError
from tightfit.plan import estimate
from tightfit.plan.sharding import DEEPSPEED_RECIPE, engine_recipe, largest_unit_params, sharded_states
from tightfit.train import TrainConfig

ARCHITECTURES = ("transformer", "cnn", "tabular_transformer")


def deepspeed_inputs(model):
    """What DeepSpeed's ``*_all_live`` estimators read from a model: unique parameters, and the largest module's
    own parameters (its ``model_to_params``)."""
    total = sum({p.data_ptr(): p.numel() for p in model.parameters()}.values())
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    return total, largest


def zero2_gpu_bytes(total, gpus):
    """deepspeed.runtime.zero.stage_1_and_2.estimate_zero2_model_states_mem_needs, cpu_offload=False."""
    return 4 * total + int(16 * total / gpus)


def zero3_gpu_bytes(total, largest, gpus):
    """deepspeed.runtime.zero.stage3.estimate_zero3_model_states_mem_needs, cpu_offload=False."""
    return 4 * largest + int(18 * total / gpus)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("world", [2, 4, 8])
def test_model_states_match_deepspeeds_zero_arithmetic(arch, world):
    model = ZOO[arch](4)[0]
    total, largest = deepspeed_inputs(model)
    assert total > 10_000
    fsdp = sharded_states(total, total, largest, world, "fsdp", DEEPSPEED_RECIPE)
    assert fsdp.total == pytest.approx(zero3_gpu_bytes(total, largest, world), rel=0.01)
    ddp = sharded_states(total, total, largest, world, "ddp", DEEPSPEED_RECIPE)  # a replica: ZeRO-2 on one GPU
    assert ddp.total == pytest.approx(zero2_gpu_bytes(total, 1), rel=0.01)
    assert fsdp.total < ddp.total


def test_engine_recipe_counts_fp32_weights_gradients_and_adam():
    states = sharded_states(1000, 1000, 100, 4, "fsdp", engine_recipe(TrainConfig()))
    assert (states.params, states.grads, states.optimizer) == (1000, 1000, 2000)  # 4, 4 and 8 bytes / 4 ranks
    assert states.gathered == 100 * (2 * 4 + 4)  # two units' weights (one prefetched) and one's gradients
    ddp = sharded_states(1000, 1000, 100, 4, "ddp", engine_recipe(TrainConfig(optimizer="sgd")))
    assert (ddp.params, ddp.grads, ddp.optimizer, ddp.buffers) == (4000, 4000, 4000, 8000)
    lora = sharded_states(1000, 10, 100, 4, "ddp", engine_recipe(TrainConfig()))
    assert (lora.grads, lora.optimizer) == (40, 80)  # frozen weights have no gradient or optimizer state


def test_estimate_per_rank_splits_fsdp_and_keeps_ddp():
    model, sample, _ = ZOO["transformer"](1)
    config = TrainConfig(micro_batch=16, verbose=False)
    one = estimate(model, sample, config, device="cuda", process=False)
    states = sum(one.breakdown[k] for k in ("params", "grads", "optimizer"))
    unit = largest_unit_params(model)
    peaks = {}
    for world in (2, 8):
        rank = estimate(model, sample, config, device="cuda", process=False, world_size=world, shard="fsdp")
        assert (rank.world_size, rank.shard) == (world, "fsdp")
        assert rank.breakdown["activations"] == one.breakdown["activations"]  # a rank runs the same micro-batch
        held = sum(rank.breakdown[k] for k in ("params", "grads", "optimizer"))
        assert held == pytest.approx(states / world, abs=3)
        assert rank.breakdown["gathered"] == unit * 12
        assert rank.peak == sum(rank.breakdown.values())
        peaks[world] = rank.peak
    assert peaks[2] > peaks[8]
    ddp = estimate(model, sample, config, device="cuda", process=False, world_size=4)
    assert ddp.shard == "ddp"
    # the reducer's buckets and the all-reduce buffer: two copies of the (fp32, all trainable) gradients
    assert ddp.peak == one.peak + 2 * one.breakdown["params"]
    assert ddp.peak > one.peak > peaks[8]


def test_bad_world_or_shard_is_refused():
    model, sample, _ = ZOO["mlp"](1)
    with pytest.raises(ConfigError, match="world_size"):
        estimate(model, sample, TrainConfig(), device="cpu", world_size=0)
    with pytest.raises(ConfigError, match=r"fsdp.*106099"):
        estimate(model, sample, TrainConfig(), device="cpu", world_size=2, shard="fsdp")
    with pytest.raises(ConfigError, match="shard"):
        sharded_states(10, 10, 1, 2, "zero", DEEPSPEED_RECIPE)
