"""Structured pruning shrinks torch-pruning's dependency groups (neurons, heads, channels) consistently;
distillation through the engine makes a small student agree with its teacher on held-out data."""

import numpy as np
import pytest
import torch
from torch import nn

from tightfit.compress import distill, structured_prune
from tightfit.errors import ConfigError
from tightfit.train import EarlyStop, TrainConfig, Trainer


def test_groups_come_from_the_dependency_graph_and_residual_streams_only_on_request(make_net):
    model = make_net(n_blocks=2).eval()
    x = torch.randn(16, 64)
    # torch-pruning traces the model: each fc1's neurons are a group with fc2's input columns; the residual
    # stream (embed, every fc2's outputs, the norms, every fc1's and the head's inputs) is one group joined by
    # additions, left alone by default; the head's outputs are the model's output
    pruned, info = structured_prune(model, (x,), sparsity=0.25)
    assert info["shrunk"] == {"blocks.0.fc1": (128, 96), "blocks.1.fc1": (128, 96)}
    assert info["skipped"] == {
        "head": "sets the model's output width",
        "blocks.1.fc2": "a residual stream (channels joined by additions): structured_prune(residual=True)",
    }  # fmt: skip
    assert pruned.blocks[0].fc1.weight.shape == (96, 64) and pruned.blocks[0].fc2.weight.shape == (64, 96)
    assert model.blocks[0].fc1.weight.shape == (128, 64)  # the original is untouched
    with torch.no_grad():
        assert pruned(x).shape == model(x).shape
    narrow, info = structured_prune(model, (x,), sparsity=0.25, residual=True)
    assert info["shrunk"] == {"blocks.1.fc2": (64, 48), "blocks.0.fc1": (128, 96), "blocks.1.fc1": (128, 96)}
    assert narrow.embed.weight.shape == (48, 64) and narrow.head.weight.shape == (10, 48)  # consistently,
    for block in narrow.blocks:  # across every block the stream passes through
        assert block.norm.weight.shape == (48,) and block.fc1.weight.shape == (96, 48)
        assert block.fc2.weight.shape == (48, 96)
    with torch.no_grad():
        assert narrow(x).shape == (16, 10) and torch.isfinite(narrow(x)).all()


def test_whole_attention_heads_go_and_the_head_count_follows():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=16)  # fmt: skip
    bert = BertModel(config, add_pooling_layer=False).eval()
    with torch.no_grad():  # heads 1 and 3 of every layer, and FFN neurons 0..31, carry nothing
        for layer in bert.encoder.layer:
            attention = layer.attention.self
            for projection in (attention.query, attention.key, attention.value):
                for head in (1, 3):
                    projection.weight[head * 8 : head * 8 + 8] = 0
                    projection.bias[head * 8 : head * 8 + 8] = 0
            layer.intermediate.dense.weight[:32] = 0
            layer.intermediate.dense.bias[:32] = -20  # GELU(-20) is 0 to float precision

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, ids):
            return self.bert(input_ids=ids).last_hidden_state

    model = Encoder().eval()
    ids = torch.randint(0, 100, (4, 16))
    pruned, info = structured_prune(model, (ids,), sparsity=0.25)
    for i, layer in enumerate(pruned.bert.encoder.layer):
        attention = layer.attention.self
        assert info["heads"][f"bert.encoder.layer.{i}.attention.self.value"] == (4, 3)  # 25% of 4 heads: one
        assert attention.num_attention_heads == 3 and attention.all_head_size == 24
        assert attention.query.weight.shape == attention.key.weight.shape == attention.value.weight.shape == (24, 32)
        assert layer.attention.output.dense.weight.shape == (32, 24)
        assert layer.intermediate.dense.weight.shape == (48, 32) and layer.output.dense.weight.shape == (32, 48)
    half, info = structured_prune(model, (ids,), sparsity=0.5)
    assert all(count == (4, 2) for count in info["heads"].values())
    with torch.no_grad():  # exactly the empty heads and neurons went: the outputs are unchanged
        torch.testing.assert_close(half(ids), model(ids), atol=1e-5, rtol=1e-5)
    assert "output width" in info["skipped"]["bert.encoder.layer.1.output.dense"]  # the hidden size stays


def test_convolutions_prune_with_their_batch_norms():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
        nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5),
    ).eval()  # fmt: skip
    with torch.no_grad():  # channels whose batch norm outputs zero carry nothing
        for norm in (model[1], model[4]):
            norm.weight[[2, 5, 9, 11]] = 0
            norm.bias[[2, 5, 9, 11]] = 0
    x = torch.randn(8, 3, 12, 12)
    pruned, info = structured_prune(model, (x,), sparsity=0.25)
    assert info["shrunk"] == {"0": (16, 12), "3": (16, 12)}
    assert pruned[0].weight.shape == (12, 3, 3, 3) and pruned[1].running_mean.shape == (12,)
    assert pruned[3].weight.shape == (12, 12, 3, 3) and pruned[8].weight.shape == (5, 12)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), model(x), atol=1e-5, rtol=1e-5)


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
