"""LoRA: exactly the adapters train, base weights stay bit-identical, adapters take part in the forward pass
(Linear and MultiheadAttention, train and eval mode), and a LoRA-tuned pretrained model adapts to a shift."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from tightfit import ConfigError
from tightfit.train import LoraSpec, TrainConfig, Trainer, apply_lora_

QUIET = {"verbose": False}


def trainable_names(model):
    return {name for name, p in model.named_parameters() if p.requires_grad}


def test_only_adapters_and_named_head_train(make_net):
    model = make_net(n_blocks=1)
    applied = apply_lora_(model, LoraSpec(r=4, target_modules=["fc1", "fc2"], trainable_modules=["head"]))
    assert applied.targets == ("blocks.0.fc1", "blocks.0.fc2")
    assert trainable_names(model) == {
        "blocks.0.fc1.lora_A.default.weight",
        "blocks.0.fc1.lora_B.default.weight",
        "blocks.0.fc2.lora_A.default.weight",
        "blocks.0.fc2.lora_B.default.weight",
        "head.weight",
        "head.bias",
    }
    assert type(model.embed) is nn.Linear  # outside the pattern: untouched
    assert applied.trainable_params == 4 * (64 + 128) * 2 + (64 * 10 + 10)


def test_default_targets_every_linear_and_attention_not_its_out_proj():
    torch.manual_seed(0)
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True), 2)
    applied = apply_lora_(encoder, LoraSpec(r=4))
    assert set(applied.targets) == {f"layers.{i}.{m}" for i in range(2) for m in ("self_attn", "linear1", "linear2")}
    assert all(".lora_" in name for name in trainable_names(encoder))
    assert len(trainable_names(encoder)) > 0


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_changing_adapter_weights_changes_the_output(mode):
    torch.manual_seed(0)
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True), 2)
    apply_lora_(encoder, LoraSpec(r=4))
    encoder.train(mode == "train")
    x = torch.randn(3, 5, 32)
    with torch.no_grad():
        reference = encoder(x)
        for part in ("self_attn", "linear1", "linear2"):  # each adapter on its own must move the output
            model = copy.deepcopy(encoder)
            params = [p for n, p in model.named_parameters() if f"layers.0.{part}.lora_B" in n]
            assert params
            for p in params:
                p.normal_()
            assert (model(x) - reference).abs().max() > 1e-3, part


def test_no_match_lists_what_exists(make_net):
    with pytest.raises(ConfigError, match=r"target_modules=\('q_proj',\) matched no module of BlockNet; .*'embed'"):
        apply_lora_(make_net(), LoraSpec(target_modules=["q_proj"]))


def test_base_weights_bit_identical_and_state_shrinks(digits, make_net):
    X, y = digits[0][:256], digits[1][:256]
    full = Trainer(make_net(), None, TrainConfig(epochs=1, micro_batch=64, **QUIET)).fit((X, y))
    model = make_net()
    base = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(epochs=1, micro_batch=64, lora={"r": 2, "trainable_modules": ["head"]}, **QUIET)
    result = Trainer(model, None, cfg).fit((X, y))
    after = model.state_dict()
    for name, value in base.items():
        adapted = name.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")
        current = after.get(adapted, after.get(name))
        if name.startswith("head."):
            assert not torch.equal(current, value), name  # the head trains
        else:
            assert torch.equal(current, value), name  # every base weight is bit-identical
    n_tensors = len(trainable_names(model))
    assert result.trainable_params < 0.2 * result.total_params
    assert result.optimizer_state_bytes == 2 * 4 * result.trainable_params + 4 * n_tensors
    assert result.optimizer_state_bytes < 0.2 * full.optimizer_state_bytes


def test_lora_adapts_a_pretrained_model_to_a_shifted_task(digits, make_net, accuracy_of):
    X, y, X_test, y_test = digits
    model = make_net(width=64, hidden=128)
    Trainer(model, None, TrainConfig(epochs=15, lr=3e-3, micro_batch=64, **QUIET)).fit((X, y))
    assert accuracy_of(model, X_test, y_test) > 0.93

    def mirror(images):  # a domain shift: every 8x8 image flipped left-right
        return np.ascontiguousarray(images.reshape(-1, 8, 8)[:, :, ::-1].reshape(len(images), 64))

    shifted_before = accuracy_of(model, mirror(X_test), y_test)
    cfg = TrainConfig(epochs=15, lr=1e-2, micro_batch=64, lora=LoraSpec(r=8, alpha=16), **QUIET)
    Trainer(model, None, cfg).fit((mirror(X[:400]), y[:400]))
    shifted_after = accuracy_of(model, mirror(X_test), y_test)
    assert shifted_after > shifted_before + 0.3, (shifted_before, shifted_after)
    assert shifted_after > 0.8
