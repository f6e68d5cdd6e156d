"""Checkpointing finds the repeated blocks, keeps state-dict keys, changes nothing numerically, and undoes."""

import pytest
import torch
from torch import nn

from tightfit import ConfigError
from tightfit.train.techniques import apply_checkpointing_, find_repeated_blocks, remove_checkpointing_


def test_finds_the_repeated_blocks(make_net):
    assert find_repeated_blocks(make_net(n_blocks=3)) == ["blocks.0", "blocks.1", "blocks.2"]
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 3)
    assert find_repeated_blocks(encoder) == ["layers.0", "layers.1", "layers.2"]


def test_same_outputs_and_gradients_and_keys(make_net):
    plain, checkpointed = make_net(n_blocks=3), make_net(n_blocks=3)
    applied = apply_checkpointing_(checkpointed)
    assert applied.blocks == ("blocks.0", "blocks.1", "blocks.2")
    assert plain.state_dict().keys() == checkpointed.state_dict().keys()
    x = torch.randn(8, 64)
    plain(x).square().sum().backward()
    checkpointed(x).square().sum().backward()
    for (name, a), (_, b) in zip(plain.named_parameters(), checkpointed.named_parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name


def test_backward_recomputes_the_block_forward(make_net):
    model = make_net(n_blocks=2)
    calls = []
    model.blocks[0].fc1.register_forward_hook(lambda m, i, o: calls.append(1))
    apply_checkpointing_(model)
    model(torch.randn(4, 64)).sum().backward()
    assert len(calls) == 2  # forward, then recomputation in backward
    remove_checkpointing_(model)
    calls.clear()
    model(torch.randn(4, 64)).sum().backward()
    assert len(calls) == 1


def test_explicit_names_and_errors(make_net):
    model = make_net(n_blocks=2)
    assert apply_checkpointing_(model, ["blocks.1"]).blocks == ("blocks.1",)
    with pytest.raises(ConfigError, match=r"names \['blocks.9'\], which are not modules of BlockNet"):
        apply_checkpointing_(model, ["blocks.9"])
    with pytest.raises(ConfigError, match="found no repeated blocks in Linear"):
        apply_checkpointing_(nn.Linear(3, 3))
