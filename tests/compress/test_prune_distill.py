"""Structured pruning finds Linear pairs by measurement and really shrinks them; distillation through the
engine makes a small student agree with its teacher on held-out data."""

import numpy as np
import pytest
import torch
from torch import nn

from tightfit.compress import distill, prunable_pairs, structured_prune
from tightfit.errors import ConfigError
from tightfit.train import EarlyStop, TrainConfig, Trainer


def test_pairs_are_found_through_activations_not_across_residuals_or_norms(make_net):
    model = make_net(n_blocks=2).eval()
    x = torch.randn(16, 64)
    # the last fc2 feeds the head column by column through the residual add: a pair by measurement, but
    # shrinking it breaks the add, so structured_prune undoes that one and says why
    assert prunable_pairs(model, (x,)) == [
        ("blocks.0.fc1", "blocks.0.fc2"), ("blocks.1.fc1", "blocks.1.fc2"), ("blocks.1.fc2", "head"),
    ]  # fmt: skip
    pruned, info = structured_prune(model, (x,), sparsity=0.25)
    assert info["shrunk"] == {"blocks.0.fc1": (128, 96), "blocks.1.fc1": (128, 96)}
    assert "breaks the forward pass" in info["skipped"]["blocks.1.fc2"]
    assert pruned.blocks[0].fc1.weight.shape == (96, 64) and pruned.blocks[0].fc2.weight.shape == (64, 96)
    assert model.blocks[0].fc1.weight.shape == (128, 64)  # the original is untouched
    with torch.no_grad():
        assert pruned(x).shape == model(x).shape


def test_removing_zero_neurons_changes_nothing(make_net):
    model = make_net(n_blocks=1).eval()
    with torch.no_grad():  # neurons 0..31 of fc1 carry nothing: they must be the ones removed, exactly
        model.blocks[0].fc1.weight[:32] = 0
        model.blocks[0].fc1.bias[:32] = 0
    x = torch.randn(32, 64)
    pruned, info = structured_prune(model, (x,), sparsity=0.25)
    assert info["shrunk"] == {"blocks.0.fc1": (128, 96)}
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), model(x))


def test_a_shrink_that_breaks_the_forward_is_undone_and_listed():
    class Reshapes(nn.Module):  # fc2 reads fc1's outputs one by one, but forward needs the width to be 4 x 8
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(8, 32), nn.Linear(32, 4)

        def forward(self, x):
            h = torch.relu(self.fc1(x))
            return self.fc2(h.view(-1, 4, 8).reshape(-1, 32))

    torch.manual_seed(0)
    model = Reshapes().eval()
    x = torch.randn(8, 8)
    pruned, info = structured_prune(model, (x,), sparsity=0.3)
    assert info["shrunk"] == {} and "breaks the forward pass" in info["skipped"]["fc1"]
    torch.testing.assert_close(pruned(x), model(x))
    with pytest.raises(ConfigError, match="sparsity"):
        structured_prune(model, (x,), sparsity=1.5)


def test_distillation_makes_the_student_agree_with_the_teacher(digits):
    X, y, X_test, y_test = (torch.as_tensor(a) for a in digits)
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    Trainer(teacher, None, TrainConfig(epochs=10, micro_batch=64, lr=3e-3, verbose=False)).fit((X, y))
    teacher.eval()
    student = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))

    def agreement() -> float:
        with torch.no_grad():
            return float((student(X_test).argmax(1) == teacher(X_test).argmax(1)).float().mean())

    before = agreement()
    result = distill(
        teacher, student, (X,), labels=y, loss="kl", temperature=2.0, alpha=0.7,
        config=TrainConfig(epochs=15, micro_batch=64, lr=1e-2, verbose=False),
    )  # fmt: skip
    assert result.steps > 0 and agreement() > max(0.9, before + 0.5)
    student_accuracy = float((student(X_test).argmax(1) == y_test).float().mean())
    assert student_accuracy > 0.88
    # held-out rows carry no labels: the validation loss is the soft term alone, and early stopping reads it
    result = distill(
        teacher, student, (X,), labels=y, loss="kl", val_data=(X_test,),
        config=TrainConfig(epochs=2, micro_batch=64, lr=1e-3, early_stopping=EarlyStop(patience=2), verbose=False),
    )  # fmt: skip
    assert all(np.isfinite(row["val_loss"]) for row in result.history)
    with pytest.raises(ConfigError, match="temperature"):
        distill(teacher, student, (X,), temperature=0)
    with pytest.raises(ConfigError, match="labels"):
        distill(teacher, student, (X,), labels=y[:10])
    with pytest.raises(ConfigError, match="loss"):
        distill(teacher, student, (X,), loss="l1")


def test_embedding_distillation_pulls_the_student_to_the_teachers_vectors():
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Linear(32, 64), nn.Tanh(), nn.Linear(64, 16)).eval()
    student = nn.Sequential(nn.Linear(32, 16))
    X, X_val = torch.randn(512, 32), torch.randn(128, 32)

    def cosine() -> float:
        with torch.no_grad():
            return float(nn.functional.cosine_similarity(student(X_val), teacher(X_val)).mean())

    before = cosine()
    config = TrainConfig(epochs=20, micro_batch=64, lr=1e-2, verbose=False)
    distill(teacher, student, (X,), loss="cosine", config=config)
    assert cosine() > max(0.8, before + 0.3)
    assert np.isfinite(cosine())
