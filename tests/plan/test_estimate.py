"""estimate(): the fake-tensor prediction matches the real step's tracked peak on a zoo of architectures and
configs, predicts the process RSS from a measured baseline, and reports CUDA allowances separately."""

import dataclasses

import pytest
import torch
from rss_probe import real_step_rss
from zoo import ZOO

from tightfit import ConfigError
from tightfit.guard import run_limited
from tightfit.measure import track_peak
from tightfit.plan import estimate
from tightfit.plan.estimate import CUDA_BLOCK_BYTES, _as_tensors, _grown, _step_config
from tightfit.train import TrainConfig, Trainer

CASES = [(arch, index) for arch in ZOO for index in range(4)]


@pytest.mark.parametrize(("arch", "index"), CASES, ids=[f"{a}-{i}" for a, i in CASES])
def test_fake_estimate_matches_the_real_tracked_step(arch, index):
    model, sample, configs = ZOO[arch](1)
    config = configs[index]
    est = estimate(model, sample, config, device="cpu", process=False)
    model, sample, _ = ZOO[arch](1)  # a fresh copy: the real run must not see the estimate's LoRA or state
    batch = _grown(_as_tensors(sample), config.effective_batch)
    real = track_peak(lambda: Trainer(model, None, _step_config(config)).fit(batch))
    assert abs(est.peak - real.peak) <= 0.02 * real.peak, (est.peak, real.peak)
    assert sum(est.breakdown.values()) == est.peak
    assert est.breakdown["params"] > 0


@pytest.mark.parametrize("arch", ["mlp", "transformer"])
def test_a_long_accumulation_is_estimated_from_two_micro_steps_at_the_real_peak(arch, monkeypatch):
    model, sample, configs = ZOO[arch](1)
    config = dataclasses.replace(configs[0], micro_batch=configs[0].micro_batch // 8, accumulation=8)
    forwards = []
    forward_loss = Trainer._forward_loss
    monkeypatch.setattr(Trainer, "_forward_loss", lambda self, chunk: forwards.append(1) or forward_loss(self, chunk))
    est = estimate(model, sample, config, device="cpu", process=False)
    assert len(forwards) == 2 * 2  # two steps of two micro-steps, not of eight
    monkeypatch.undo()
    model, sample, _ = ZOO[arch](1)
    batch = _grown(_as_tensors(sample), config.effective_batch)
    trainer = Trainer(model, None, _step_config(config))
    real = track_peak(lambda: trainer.fit(batch))  # all eight micro-steps of both steps, for real
    assert abs(est.peak - real.peak) <= 0.02 * real.peak, (est.peak, real.peak)


def test_estimate_leaves_the_model_untouched():
    model, sample, configs = ZOO["transformer"](1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    estimate(model, sample, configs[3], device="cpu", process=False)  # LoRA config
    assert model.state_dict().keys() == before.keys()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_effective_batch_not_sample_size_sets_the_activations():
    model, sample, _ = ZOO["mlp"](1)
    small = estimate(model, sample, TrainConfig(micro_batch=16, verbose=False), device="cpu", process=False)
    big = estimate(model, sample, TrainConfig(micro_batch=256, verbose=False), device="cpu", process=False)
    accumulated = estimate(
        model, sample, TrainConfig(micro_batch=16, accumulation=16, verbose=False), device="cpu", process=False
    )
    assert big.breakdown["activations"] > 8 * small.breakdown["activations"]
    assert accumulated.peak < big.peak  # the same 256 rows per step, 16 at a time
    assert big.breakdown["params"] == small.breakdown["params"]


@pytest.mark.parametrize("arch", list(ZOO))
def test_process_rss_prediction_within_15_percent(arch):
    model, sample, configs = ZOO[arch](4)
    est = estimate(model, sample, configs[0], device="cpu")
    measured = run_limited(real_step_rss, arch, 4, 0)
    assert est.allowances["process_baseline"] > 100 * 10**6  # interpreter + torch: measured, not assumed
    assert abs(est.process_peak - measured) <= 0.15 * measured, (est.process_peak, measured, est.allowances)


def test_cuda_estimate_reports_rounding_workspace_and_context_separately():
    model, sample, configs = ZOO["mlp"](1)
    est = estimate(model, sample, configs[0], device="cuda")
    cpu = estimate(model, sample, configs[0], device="cpu", process=False)
    assert est.peak == cpu.peak  # the modelled part (here run on the CPU, as the note says)
    rounding = est.allowances["allocator_rounding"]
    assert 0 < rounding < 100 * CUDA_BLOCK_BYTES  # each live storage rounded up to 512 bytes
    assert est.device_peak == est.peak + rounding + est.allowances["cublas_workspace"]
    assert est.allowances["cuda_context"] > 0 and est.device_peak < est.peak + est.allowances["cuda_context"]
    if not torch.cuda.is_available():
        assert "modelled on the CPU" in est.note


def test_unfakeable_model_falls_back_to_a_measured_step():
    class DataDependent(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, x):
            keep = x[x.sum(dim=1) > 0]  # the number of rows depends on the values: no fake kernel can know it
            return self.linear(x) + self.linear(keep).sum()

    model = DataDependent()
    sample = (torch.ones(8, 4), torch.randint(0, 2, (8,)))
    est = estimate(model, sample, TrainConfig(micro_batch=8, verbose=False), device="cpu", process=False)
    real = track_peak(lambda: Trainer(DataDependent(), None, _step_config(TrainConfig(micro_batch=8))).fit(sample))
    assert est.method == "measured" and "fake tensors failed" in est.note
    assert est.peak == pytest.approx(real.peak, rel=0.02)


def test_a_mask_test_takes_the_branch_ordinary_data_takes():
    """``if skip.any(): if skip.all(): <skip the work>`` (TabICL's pattern): the estimate must run the work."""

    class SkipsMaskedRows(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.wide = torch.nn.Linear(16, 4096)
            self.head = torch.nn.Linear(4096, 2)

        def forward(self, x):
            skip = (x == -100.0).all(dim=-1)
            if skip.any() and skip.all():
                return torch.zeros(len(x), 2, device=x.device) + 0 * self.head.bias
            return self.head(torch.relu(self.wide(x)))

    sample = (torch.randn(64, 16), torch.randint(0, 2, (64,)))
    config = TrainConfig(micro_batch=64, verbose=False)
    torch.manual_seed(0)
    est = estimate(SkipsMaskedRows(), sample, config, device="cpu", process=False)
    torch.manual_seed(0)
    real = track_peak(lambda: Trainer(SkipsMaskedRows(), None, _step_config(config)).fit(sample))
    assert est.method == "fake"
    assert est.breakdown["activations"] > 64 * 4096 * 4  # the wide layer's output was counted
    assert est.peak == pytest.approx(real.peak, rel=0.01)


def test_bad_arguments():
    model, sample, configs = ZOO["mlp"](1)
    with pytest.raises(ConfigError, match="'device' parameter of estimate"):
        estimate(model, sample, configs[0], device="tpu")
    with pytest.raises(ConfigError, match="'config' parameter of estimate"):
        estimate(model, sample, dataclasses.asdict(configs[0]))
