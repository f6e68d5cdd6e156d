"""Checkpoint/resume: a run interrupted after k steps and resumed ends bit-for-bit where an uninterrupted run
ends — with dropout (RNG state) and with a shuffling DataLoader (sampler seed) — and checkpoints are atomic."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tightfit import ConfigError
from tightfit.train import TrainConfig, Trainer
from tightfit.train.checkpoint import checkpoint_path, load_checkpoint


class Interrupt(Exception):
    pass


def interrupting_loss(after_calls):
    calls = []

    def loss_fn(output, target):
        calls.append(torch.is_grad_enabled())  # training calls; validation runs under no_grad
        if sum(calls) > after_calls:
            raise Interrupt
        return nn.functional.cross_entropy(output, target)

    return loss_fn


def as_loader(X, y):
    return DataLoader(TensorDataset(torch.tensor(X), torch.tensor(y)), batch_size=32, shuffle=True)


@pytest.mark.parametrize("source", ["arrays", "dataloader"])
def test_resume_matches_uninterrupted_run(tmp_path, digits, make_net, source):
    X, y, X_val, y_val = digits[0][:320], digits[1][:320], digits[2], digits[3]
    data = (lambda: (X, y)) if source == "arrays" else (lambda: as_loader(X, y))
    cfg = TrainConfig(epochs=3, micro_batch=32, lr=3e-3, verbose=False, seed=3)

    torch.manual_seed(123)
    reference = make_net(dropout=0.2)
    full = Trainer(reference, None, cfg).fit(data(), val_data=(X_val, y_val))

    ckpt = TrainConfig(**{**cfg.to_dict(), "checkpoint_dir": str(tmp_path), "checkpoint_every": 1})
    torch.manual_seed(123)
    with pytest.raises(Interrupt):
        Trainer(make_net(dropout=0.2), interrupting_loss(13), ckpt).fit(data(), val_data=(X_val, y_val))
    assert load_checkpoint(tmp_path)["loop"]["global_step"] == 13  # epoch 2, mid-way

    torch.manual_seed(999)  # a different global RNG: resume must restore its own
    resumed_model = make_net(seed=5, dropout=0.2)
    resumed = Trainer(resumed_model, None, ckpt).fit(data(), val_data=(X_val, y_val), resume=True)
    for (name, a), b in zip(reference.state_dict().items(), resumed_model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert resumed.steps == full.steps == 30
    assert [row["val_loss"] for row in resumed.history] == [row["val_loss"] for row in full.history]


def test_checkpoint_round_trips_bit_for_bit_and_leaves_no_temp_files(tmp_path, digits, make_net):
    model = make_net()
    cfg = TrainConfig(epochs=1, micro_batch=64, checkpoint_dir=str(tmp_path), verbose=False)
    Trainer(model, None, cfg).fit((digits[0][:128], digits[1][:128]))
    saved = load_checkpoint(tmp_path)
    for name, value in model.state_dict().items():
        assert torch.equal(saved["model"][name], value), name
    assert [p.name for p in tmp_path.iterdir()] == [checkpoint_path(tmp_path).name]


def test_unknown_format_version_is_refused(tmp_path):
    torch.save({"format_version": 99}, checkpoint_path(tmp_path))
    with pytest.raises(ConfigError, match="format version 99; this tightfit loads version 1"):
        load_checkpoint(tmp_path)


def test_resume_needs_a_checkpoint_dir(digits, make_net):
    with pytest.raises(ConfigError, match=r"resume=True\) needs TrainConfig\(checkpoint_dir"):
        Trainer(make_net(), None, TrainConfig(verbose=False)).fit((digits[0][:8], digits[1][:8]), resume=True)


class _Payload:
    """Unpickling this runs code: it writes a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


def test_a_checkpoint_never_runs_code_and_a_truncated_one_is_a_data_error(tmp_path):
    from tightfit import DataError

    marker = tmp_path / "pwned"
    torch.save({"format_version": 1, "rng": _Payload(marker)}, checkpoint_path(tmp_path))
    with pytest.raises(DataError, match="not a readable tightfit checkpoint"):
        load_checkpoint(tmp_path)
    assert not marker.exists()
    torch.save({"format_version": 1, "model": {"w": torch.ones(1000)}}, checkpoint_path(tmp_path))
    checkpoint_path(tmp_path).write_bytes(checkpoint_path(tmp_path).read_bytes()[:700])
    with pytest.raises(DataError, match=r"checkpoint\.pt is not a readable"):
        load_checkpoint(tmp_path)
