"""The engine: each knob has its measured effect (accumulation, checkpointing, bf16, clipping, schedule,
optimizers), and the guards work (time budget, non-finite losses, early stopping, silence, run files)."""

import copy
import itertools
import json
import math
import time

import numpy as np
import pytest
import torch
from torch import nn

from tightfit import Budget, ConfigError, TrainingDiverged
from tightfit.measure import track_peak
from tightfit.train import EarlyStop, TrainConfig, Trainer

QUIET = {"verbose": False}


def one_sgd_step_update(model, X, y, **cfg):
    """Weights after one plain-SGD step minus weights before, divided by -lr: the gradient the step used."""
    before = copy.deepcopy(model.state_dict())
    settings = {
        "optimizer": "sgd",
        "momentum": 0.0,
        "weight_decay": 0.0,
        "clip_norm": None,
        "schedule": "constant",
        "lr": 0.1,
        "max_steps": 1,
        "epochs": 1,
        **QUIET,
        **cfg,
    }
    config = TrainConfig(**settings)
    Trainer(model, None, config).fit((X, y))
    return {k: (before[k] - v) / 0.1 for k, v in model.state_dict().items()}


def test_accumulation_gives_the_same_gradients_as_one_big_batch(digits, make_net):
    X, y = digits[0][:16], digits[1][:16]
    small = one_sgd_step_update(make_net(), X, y, micro_batch=4, accumulation=4)
    big = one_sgd_step_update(make_net(), X, y, micro_batch=16, accumulation=1)
    assert small.keys() == big.keys() and len(small) > 0
    for name in small:
        assert torch.allclose(small[name], big[name], atol=1e-5), name
    assert any(g.abs().max() > 1e-4 for g in big.values())  # a real step, not a vacuous match


def test_checkpointing_cuts_the_step_peak_and_keeps_gradients(make_net):
    torch.manual_seed(0)
    X, y = torch.randn(512, 64), torch.randint(0, 10, (512,))
    peaks, grads = {}, {}
    for checkpointing in (False, True):
        model = make_net(n_blocks=8, width=128, hidden=512)
        cfg = TrainConfig(
            micro_batch=512, checkpointing=checkpointing, optimizer="sgd", momentum=0.0, max_steps=1, epochs=1, **QUIET
        )
        peaks[checkpointing] = track_peak(lambda m=model, c=cfg: Trainer(m, None, c).fit((X, y))).peak
        grads[checkpointing] = one_sgd_step_update(
            make_net(n_blocks=8, width=128, hidden=512), X, y, micro_batch=512, checkpointing=checkpointing
        )
    assert peaks[True] <= 0.7 * peaks[False], peaks
    for name in grads[False]:
        assert torch.allclose(grads[True][name], grads[False][name], atol=1e-5), name


def test_bf16_runs_activations_in_bf16_and_still_learns(digits, make_net, accuracy_of):
    X, y, X_test, y_test = digits
    model = make_net()
    before = accuracy_of(model, X_test, y_test)
    seen = []
    hook = model.blocks[0].fc1.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    result = Trainer(model, None, TrainConfig(precision="bf16", epochs=3, lr=3e-3, micro_batch=64, **QUIET)).fit((X, y))
    hook.remove()
    assert len(seen) == 3 * math.ceil(1300 / 64) and set(seen) == {torch.bfloat16}
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert accuracy_of(model, X_test, y_test) > max(before + 0.5, 0.85)
    assert next(model.parameters()).dtype == torch.float32  # master weights stay fp32


def test_fp16_on_cpu_is_a_config_error_suggesting_bf16(digits, make_net):
    X, y = digits[0][:32], digits[1][:32]
    with pytest.raises(ConfigError, match=r"'fp16', which needs a CUDA device.*precision='bf16'"):
        Trainer(make_net(), None, TrainConfig(precision="fp16", **QUIET)).fit((X, y), budget=Budget(device="cpu"))


def test_optimizer_state_bytes_are_counted_and_adafactor_is_smaller(digits, make_net):
    X, y = digits[0][:64], digits[1][:64]
    n_params = sum(p.numel() for p in make_net().parameters())
    results = {}
    for name in ("adamw", "sgd", "adafactor"):
        cfg = TrainConfig(optimizer=name, max_steps=1, micro_batch=64, **QUIET)
        results[name] = Trainer(make_net(), None, cfg).fit((X, y)).optimizer_state_bytes
    n_tensors = len(list(make_net().parameters()))
    assert results["adamw"] == 2 * 4 * n_params + 4 * n_tensors  # exp_avg + exp_avg_sq, one fp32 step each
    assert results["sgd"] == 4 * n_params  # the momentum buffer
    assert results["adafactor"] < 0.25 * results["adamw"]


def test_gradient_clipping_bounds_the_update(digits, make_net):
    X, y = digits[0][:64], digits[1][:64]
    update = one_sgd_step_update(make_net(), X, y, micro_batch=64, clip_norm=0.01)
    norm = math.sqrt(sum(float(g.square().sum()) for g in update.values()))
    assert norm == pytest.approx(0.01, rel=1e-3)  # clipped to exactly the limit (the raw norm is far larger)


def test_warmup_and_cosine_schedule_reach_the_optimizer(digits, make_net):
    X, y = digits[0][:320], digits[1][:320]
    lrs = []
    cfg = TrainConfig(lr=0.01, warmup=2, schedule="cosine", micro_batch=32, epochs=1, **QUIET)
    trainer = Trainer(make_net(), None, cfg)
    original = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):
        lrs.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    torch.optim.AdamW.step = spy
    try:
        trainer.fit((X, y))
    finally:
        torch.optim.AdamW.step = original
    assert len(lrs) == 10
    assert lrs[:3] == pytest.approx([0.005, 0.01, 0.01])
    assert lrs[-1] < 0.001 and all(a >= b for a, b in itertools.pairwise(lrs[1:]))


def test_time_budget_stops_cleanly_and_keeps_best_weights(digits, make_net):
    X, y, X_val, y_val = digits
    model = make_net()
    model.register_forward_pre_hook(lambda m, i: time.sleep(0.02) if m.training else None)
    cfg = TrainConfig(epochs=1000, micro_batch=256, early_stopping=EarlyStop(patience=1000), **QUIET)
    started = time.perf_counter()
    result = Trainer(model, None, cfg).fit((X, y), val_data=(X_val, y_val), budget=Budget(time="3s"))
    elapsed = time.perf_counter() - started
    assert result.stopped_by == "time"
    assert elapsed < 4.0 and result.wall_time_s <= 3.0
    assert result.steps > 10
    best = min(row["val_loss"] for row in result.history if "val_loss" in row)
    assert result.best_metric == best
    assert Trainer(model, None, cfg).evaluate((X_val, y_val))["val_loss"] == pytest.approx(best, rel=1e-5)


def test_a_time_budget_holds_back_the_checkpoint_the_run_ends_with(digits, make_net, monkeypatch, tmp_path):
    from tightfit.train import engine

    written = engine.save_checkpoint

    def slow_save(*args, **kwargs):  # a large model's checkpoint: 0.4 s to write
        time.sleep(0.4)
        return written(*args, **kwargs)

    monkeypatch.setattr(engine, "save_checkpoint", slow_save)
    X, y, _, _ = digits
    cfg = TrainConfig(epochs=1000, micro_batch=256, checkpoint_dir=str(tmp_path), checkpoint_every=5, **QUIET)
    result = Trainer(make_net(), None, cfg).fit((X, y), budget=Budget(time="2s"))
    # the last periodic save priced the one the run ends with: without holding it back, 2.0 s + 0.4 s
    assert result.stopped_by == "time" and result.wall_time_s <= 2.0
    assert result.steps >= 10  # periodic saves were written (and timed) before the end


def test_early_stopping_restores_the_best_epoch(digits, make_net):
    X, y, X_val, y_val = digits
    cfg = TrainConfig(
        epochs=40,
        lr=0.05,
        optimizer="sgd",
        momentum=0.9,
        micro_batch=32,
        early_stopping=EarlyStop(metric="val_accuracy", patience=2),
        **QUIET,
    )
    model = make_net()
    result = Trainer(model, None, cfg).fit((X[:200], y[:200]), val_data=(X_val, y_val))
    assert result.stopped_by == "early_stopping"
    accuracies = [row["val_accuracy"] for row in result.history]
    assert len(accuracies) < 40 and result.best_metric == max(accuracies)
    assert result.best_epoch == accuracies.index(max(accuracies)) + 1
    assert Trainer(model, None, cfg).evaluate((X_val, y_val))["val_accuracy"] == result.best_metric


def test_non_finite_losses_skip_lower_lr_then_stop_with_clear_error(digits, make_net):
    X, y = digits[0][:64].copy(), digits[1][:64]
    X[:, 5] = np.nan  # every row poisoned: every step is bad
    model = make_net()
    before = copy.deepcopy(model.state_dict())
    cfg = TrainConfig(micro_batch=8, max_bad_steps=3, **QUIET)
    with pytest.raises(TrainingDiverged, match=r"non-finite for 3 consecutive steps.*lowered to 0.000125"):
        Trainer(model, None, cfg).fit((X, y))
    for name, value in model.state_dict().items():  # every bad update was skipped
        assert torch.equal(value, before[name]), name


def test_isolated_non_finite_step_is_skipped_and_training_continues(digits, make_net):
    X, y = digits[0][:64].copy(), digits[1][:64].copy()
    calls = []

    def loss_fn(output, target):
        calls.append(1)
        loss = nn.functional.cross_entropy(output, target)
        return loss * float("inf") if len(calls) == 2 else loss

    result = Trainer(make_net(), loss_fn, TrainConfig(micro_batch=8, epochs=1, **QUIET)).fit((X, y))
    assert result.nan_skipped_steps == 1 and result.steps == 8
    assert all(math.isfinite(row["train_loss"]) for row in result.history)


def test_verbose_false_is_silent_and_true_shows_rate_and_eta(digits, make_net, capsys):
    X, y = digits[0][:128], digits[1][:128]
    Trainer(make_net(), None, TrainConfig(epochs=1, micro_batch=32, verbose=False)).fit((X, y))
    quiet = capsys.readouterr()
    assert quiet.out == "" and quiet.err == ""
    Trainer(make_net(), None, TrainConfig(epochs=1, micro_batch=32, verbose=True)).fit((X, y))
    shown = capsys.readouterr().err
    assert "4/4" in shown and "step/s" in shown and "loss=" in shown


def test_save_run_writes_config_hardware_versions_and_history(tmp_path, digits, make_net):
    X, y, X_val, y_val = digits
    cfg = TrainConfig(epochs=2, micro_batch=128, seed=7, **QUIET)
    result = Trainer(make_net(), None, cfg).fit((X, y), val_data=(X_val, y_val), budget=Budget(time="5min"))
    result.save_run(tmp_path)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["config"]["seed"] == 7 and run["budget"]["time"] == 300.0
    assert run["hardware"]["cores_logical"] >= 1 and "torch" in run["environment"]["versions"]
    assert run["steps"] == result.steps == 2 * math.ceil(1300 / 128)
    assert run["peak_memory_bytes"] > 0 and run["stopped_by"] == "epochs"
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,") and len(lines) == 3


def test_dataloader_and_dataset_inputs_train(digits, make_net):
    from torch.utils.data import DataLoader, TensorDataset

    X, y = torch.tensor(digits[0][:256]), torch.tensor(digits[1][:256])
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)
    result = Trainer(make_net(), None, TrainConfig(epochs=1, accumulation=2, micro_batch=8, **QUIET)).fit(loader)
    assert result.steps == 8 and result.effective_batch == 32  # 16 loader batches of 16 rows, two per step
    result = Trainer(make_net(), None, TrainConfig(epochs=1, micro_batch=64, **QUIET)).fit(TensorDataset(X, y))
    assert result.steps == 4


class _EpochAwareRows(torch.utils.data.Dataset):
    """Rows whose values depend on the epoch the engine announced through ``set_epoch``."""

    def __init__(self):
        self.epoch, self.announced = 0, []

    def set_epoch(self, epoch):
        self.epoch = epoch
        self.announced.append(epoch)

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return torch.full((4,), float(self.epoch)), torch.tensor(i % 2)


@pytest.mark.parametrize("as_loader", [False, True])
def test_engine_announces_each_epoch_to_a_generating_dataset(as_loader):
    data = _EpochAwareRows()
    train = torch.utils.data.DataLoader(data, batch_size=4) if as_loader else data
    seen = []
    model = nn.Linear(4, 2)
    model.register_forward_hook(lambda mod, args, out: seen.append(float(args[0][0, 0])))
    Trainer(model, None, TrainConfig(micro_batch=4, epochs=3, verbose=False)).fit(train)
    assert data.announced == [0, 1, 2]
    assert sorted(set(seen)) == [0.0, 1.0, 2.0]  # each epoch's batches were drawn after the announcement


class _WithOutputObject(nn.Module):
    """A model answering as Hugging Face models do (an object with ``logits``), or with a tuple."""

    def __init__(self, wrap: str) -> None:
        super().__init__()
        self.net, self.wrap = nn.Linear(64, 10), wrap

    def forward(self, x):
        logits = self.net(x)
        if self.wrap == "tuple":
            return logits, None
        from transformers.modeling_outputs import SequenceClassifierOutput

        return SequenceClassifierOutput(logits=logits)


@pytest.mark.parametrize("wrap", ["model_output", "tuple"])
def test_the_default_loss_reads_the_logits_of_model_outputs_that_are_not_tensors(digits, wrap):
    X, y, X_test, y_test = digits
    torch.manual_seed(0)
    model = _WithOutputObject(wrap)
    history = Trainer(model, None, TrainConfig(epochs=3, micro_batch=64, lr=1e-2, **QUIET)).fit((X, y)).history
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]  # it learned through the logits
    with torch.no_grad():
        predicted = model.net(torch.as_tensor(X_test, dtype=torch.float32)).argmax(1).numpy()
    assert (predicted == np.asarray(y_test)).mean() > 0.85
