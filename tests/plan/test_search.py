"""plan(): a cheapest-first measured search. The proof on CPU: under a memory cap at 60% of the naive config's
measured peak, the naive config fails for real, the plan's choice runs under the cap, and no candidate the
estimate called fitting exceeded it."""

import dataclasses

import pytest
import torch
from zoo import ResidualMLP

from tightfit import Budget, BudgetExceeded
from tightfit.guard import run_limited
from tightfit.hardware import CudaDevice, Hardware
from tightfit.plan import QualityProbe, config_label, enumerate_candidates, plan
from tightfit.plan.search import _choose, _trial
from tightfit.search import Entry, Measured
from tightfit.train import LoraSpec, TrainConfig


def test_plan_fits_60_percent_of_the_naive_peak_where_naive_fails(tmp_path):
    torch.manual_seed(0)
    model = ResidualMLP(64, 128, 4, 10)  # activations dominate at 32k rows per step
    X, y = torch.randn(32768, 64), torch.randint(0, 10, (32768,))
    naive = TrainConfig(micro_batch=32768, epochs=1, verbose=False)
    naive_peak = run_limited(_trial, model, (X, y), naive, 2)["peak_bytes"]
    cap = int(0.6 * naive_peak)
    try:  # the naive config cannot run as configured: it dies, or the engine must halve its micro-batch
        naive_under_cap = run_limited(_trial, model, (X, y), naive, 2, memory=cap)
        assert naive_under_cap["oom_events"] >= 1
    except BudgetExceeded as exc:
        assert exc.kind == "memory"

    result = plan(model, (X, y), Budget(memory=cap, device="cpu"), base_config=naive, max_measured=1)
    assert result.chosen is not None, [
        (c.name, c.reason) for c in result.candidates if not c.reason.startswith("estimated peak")
    ]
    assert result.chosen.effective_batch == naive.effective_batch  # the recipe is kept
    chosen = next(c for c in result.candidates if c.status == "chosen")
    assert chosen.measured.peak_bytes <= cap
    assert run_limited(_trial, model, (X, y), result.chosen, 2, memory=cap)["oom_events"] == 0
    for cand in result.candidates:  # no candidate predicted to fit then failed the cap for real
        if cand.status == "over_limit" and not cand.reason.startswith(("estimated peak", "the training process")):
            pytest.fail(f"{cand.name} was estimated to fit but {cand.reason}")
    assert result.candidates[0].status == "over_limit" and "estimated peak" in result.candidates[0].reason
    assert all(c.reason for c in result.candidates)
    assert result.plot(tmp_path / "plan.png").stat().st_size > 5_000


def test_enumeration_keeps_effective_batch_and_is_cheapest_first(make_net):
    configs = enumerate_candidates(make_net(n_blocks=2), TrainConfig(micro_batch=64), device="cpu")
    assert {c.effective_batch for c in configs} == {64}
    assert configs[0] == TrainConfig(micro_batch=64, verbose=False)
    assert any(c.checkpointing for c in configs) and any(c.lora is not None for c in configs)
    assert {c.micro_batch for c in configs} == {64, 32, 16, 8, 4, 2}


@pytest.mark.parametrize("native_bf16", [True, False])
def test_emulated_bf16_ranks_after_every_fp32_recipe(make_net, monkeypatch, native_bf16):
    probed = Hardware.probe()
    monkeypatch.setattr(Hardware, "probe", classmethod(lambda cls: dataclasses.replace(probed, cpu_bf16=native_bf16)))
    configs = enumerate_candidates(make_net(n_blocks=2), TrainConfig(micro_batch=64), device="cpu")
    first_bf16 = next(i for i, c in enumerate(configs) if c.precision == "bf16")
    last_fp32 = max(i for i, c in enumerate(configs) if c.precision == "fp32")
    # natively, bf16 (cost 0.5) comes right after the recipe itself; emulated (88 s against 7 s for the same
    # steps on an AVX2 CPU) it comes after every fp32 option, so the planner measures fp32 first
    assert (first_bf16 == 1) if native_bf16 else (first_bf16 > last_fp32)
    cuda = enumerate_candidates(make_net(n_blocks=2), TrainConfig(micro_batch=64), device="cuda")
    assert cuda[1].precision == "bf16"  # on an Ampere+ GPU (or one not here) half precision is native


T4 = CudaDevice(0, "Tesla T4", 16 * 2**30, 15 * 2**30, "7.5", bf16=False, fp16=True)  # bf16 emulated


def test_a_gpu_that_emulates_bf16_tries_fp16_first(make_net, monkeypatch):
    machine = dataclasses.replace(Hardware.probe(), cuda=(T4,), cpu_bf16=False)
    monkeypatch.setattr(Hardware, "probe", classmethod(lambda cls: machine))
    cuda = enumerate_candidates(make_net(n_blocks=2), TrainConfig(micro_batch=64), device="cuda")
    first_bf16 = next(i for i, c in enumerate(cuda) if c.precision == "bf16")
    assert cuda[1].precision == "fp16" and first_bf16 > max(i for i, c in enumerate(cuda) if c.precision == "fp32")


def test_time_budget_rejects_slow_candidates_and_probe_ranks_quality(digits, make_net):
    X, y, X_val, y_val = digits
    model = make_net()
    fast = TrainConfig(micro_batch=128, epochs=2, lr=3e-3, verbose=False)
    frozen = TrainConfig(micro_batch=128, epochs=2, lr=1e-9, verbose=False)  # learns nothing
    result = plan(
        model,
        (X, y),
        Budget(time="10min", device="cpu"),
        candidates=[frozen, fast],
        quality_probe=QualityProbe((X_val, y_val), steps=15, tolerance=0.05),
    )
    assert result.chosen == fast  # the frozen one is no slower, but its validation loss is far worse
    losses = [c.measured.extra["val_loss"] for c in result.candidates]
    assert losses[1] < 0.8 * losses[0]
    tight = plan(model, (X, y), Budget(time="1ms", device="cpu"), candidates=[fast])
    assert tight.chosen is None and tight.candidates[0].reason.startswith("predicted fit time")
    with pytest.raises(Exception, match="no candidate fits"):
        tight.run()


def test_plan_run_trains_with_the_chosen_config(digits, make_net):
    X, y, X_val, y_val = digits
    result = plan(make_net(), (X, y), Budget(device="cpu"), candidates=[TrainConfig(micro_batch=64, epochs=2)])
    trained = result.run(val_data=(X_val, y_val), verbose=False)
    assert trained.config.micro_batch == 64 and trained.history[-1]["val_accuracy"] > 0.8


def test_a_measured_peak_inside_the_safety_margin_is_rejected(digits, make_net, monkeypatch):
    """The estimate may under-predict; the trial's own peak must then also keep the margin below the cap."""
    import dataclasses

    import tightfit.plan.search as search

    X, y, _, _ = digits
    model = make_net()
    config = TrainConfig(micro_batch=64, epochs=1, verbose=False)
    peak = run_limited(_trial, model, (X[:192], y[:192]), config, 3)["peak_bytes"]
    real_estimate = search.estimate

    def optimistic(*args, **kwargs):  # an estimate that says "fits" whatever the truth
        return dataclasses.replace(real_estimate(*args, **kwargs), peak=1, allowances={})

    monkeypatch.setattr(search, "estimate", optimistic)
    result = plan(model, (X, y), Budget(memory=int(peak / 0.94), device="cpu"), candidates=[config])
    assert result.chosen is None
    assert "within the 10% safety margin" in result.candidates[0].reason, result.candidates[0].reason


def test_a_budget_below_the_process_itself_rejects_the_rest_without_estimating(digits, make_net):
    X, y = digits[0][:256], digits[1][:256]
    candidates = [TrainConfig(micro_batch=m, epochs=1) for m in (64, 32, 16)]
    result = plan(make_net(), (X, y), Budget(memory="20MB", device="cpu"), candidates=candidates)
    assert result.chosen is None
    first, *rest = result.candidates
    assert "estimate" in first.details and "estimated peak" in first.reason
    assert all("estimate" not in c.details and "training process alone" in c.reason for c in rest)
    binding = result.leaderboard.binding  # no training technique lowers the interpreter's own memory
    assert binding.binding == "memory" and binding.techniques == [] and "raise the memory budget" in binding.evidence


@pytest.mark.parametrize(("gpu", "cpu_bf16", "expected"), [
    (None, False, "fp32"), (None, True, "bf16"), (T4, False, "fp16"),
    (dataclasses.replace(T4, name="A10G", capability="8.6", bf16=True), False, "bf16"),
])  # fmt: skip
def test_pretraining_takes_the_planners_rule_for_native_bf16(gpu, cpu_bf16, expected):
    from tightfit.tabular.pretrain import _precision

    machine = dataclasses.replace(Hardware.probe(), cuda=() if gpu is None else (gpu,), cpu_bf16=cpu_bf16)
    assert _precision(machine) == expected  # a T4 emulates bf16 (is_bf16_supported() says True): fp16 instead


def _measured_fit(config: TrainConfig, seconds_per_sample: float, val_loss: float | None = None) -> Entry:
    extra = {"seconds_per_sample_s": seconds_per_sample} | ({} if val_loss is None else {"val_loss": val_loss})
    return Entry(config_label(config), config, measured=Measured(peak_bytes=1, extra=extra))


def test_without_a_probe_lora_or_another_optimizer_is_chosen_only_when_the_recipe_cannot_fit():
    # An LSTM with a small head: LoRA adapts only the head and freezes the rest, so it ran 2x faster than full
    # training; without a probe nothing shows it learns as well, and full training fits too.
    base = TrainConfig(micro_batch=64, verbose=False)
    full, bf16 = base, dataclasses.replace(base, precision="bf16")
    lora = dataclasses.replace(base, lora=LoraSpec(r=8))
    adafactor = dataclasses.replace(base, optimizer="adafactor")
    fits = [_measured_fit(full, 3e-4), _measured_fit(bf16, 2.4e-4), _measured_fit(lora, 1.2e-4),
            _measured_fit(adafactor, 1.0e-4)]  # fmt: skip
    winner, reason = _choose(fits, None, base)
    assert winner.spec == bf16 and "fp32, mb 64x1, adafactor: 2.4x faster" in reason
    winner, reason = _choose(fits[2:], None, base)  # only the changed recipes fit: the fastest of them
    assert winner.spec == adafactor and "none with the recipe's trainable weights and optimizer fits" in reason
    probed = [_measured_fit(c, s, loss) for c, s, loss in [(full, 3e-4, 0.50), (lora, 1.2e-4, 0.51)]]
    winner, reason = _choose(probed, QualityProbe(val_data=None, tolerance=0.05), base)
    assert winner.spec == lora and "within 5% of the best" in reason  # measured to learn as well: speed decides
    assert _choose(probed, QualityProbe(val_data=None, tolerance=0.01), base)[0].spec == full


class _AnswersWithADict(torch.nn.Module):
    """Its output is a dict the default loss cannot read: every config fails alike."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(64, 10)

    def forward(self, x):
        return {"scores": self.net(x)}


def test_configs_failing_alike_stop_the_search_naming_the_error(digits):
    X, y = digits[0][:256], digits[1][:256]
    candidates = [TrainConfig(micro_batch=m, epochs=1) for m in (64, 32, 16, 8, 4, 2)]
    result = plan(_AnswersWithADict(), (X, y), Budget(device="cpu"), candidates=candidates)
    assert result.chosen is None
    assert [c.status for c in result.candidates] == ["failed"] * 3 + ["skipped"] * 3
    assert all(c.reason.startswith("not tried: the last 3 failed alike (") and "dict" in c.reason
               for c in result.candidates[3:])  # fmt: skip
